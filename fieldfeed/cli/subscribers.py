"""``fieldfeed subscribers``: add, remove, list, import and export the mailing list."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fieldfeed.cli.common import (
    Console,
    QuietOption,
    SiteOption,
    VerboseOption,
    now_utc,
    settings_for,
)
from fieldfeed.cli.csvcells import write_safe_row
from fieldfeed.errors import FieldfeedError, UsageError
from fieldfeed.model import Subscriber

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


app = typer.Typer(
    help="Manage the mailing list (CSV columns: email, name, tags).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _store(site: Path) -> Engine:
    from fieldfeed.store import open_store

    return open_store(settings_for(site).database_url)


def _existing_store(site: Path) -> Engine | None:
    """The store, or None when its SQLite file does not exist yet: a dry run creates nothing."""
    import sqlalchemy as sa

    url = sa.make_url(settings_for(site).database_url)
    db = url.database or ""
    if url.get_backend_name() == "sqlite" and db not in ("", ":memory:") and not Path(db).exists():
        return None
    return _store(site)


@app.command("add")
def add(
    email: Annotated[str, typer.Argument(help="The address to add (or update).")],
    name: Annotated[str | None, typer.Option("--name", "-n", help="Display name.")] = None,
    tags: Annotated[
        str | None,
        typer.Option(
            "--tags", "-t", help="Only posts with these tags, e.g. 'databases,go'; '' for all."
        ),
    ] = None,
    site: SiteOption = Path("."),
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """Add an address as active (you vouch for consent); an existing one is updated."""
    from fieldfeed.store import subscribers as subs  # lazy: SQLAlchemy

    console = Console(verbose, quiet)
    engine = _store(site)
    before = _get(engine, email)
    sub, what = subs.upsert(
        engine,
        email,
        name=name,
        tags=subs.parse_tags(tags) if tags is not None else None,
        now=now_utc(),
    )
    if before is not None and before.status != "active":
        console.info(f"{sub.email}: was {before.status}, now active again")
    else:
        console.info(f"{sub.email}: {what}")


@app.command("remove")
def remove(
    email: Annotated[str, typer.Argument(help="The address to remove.")],
    purge: Annotated[
        bool, typer.Option("--purge", help="Delete the address and its history instead.")
    ] = False,
    site: SiteOption = Path("."),
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """Unsubscribe an address (kept as unsubscribed), or delete it with --purge."""
    from fieldfeed.store import subscribers as subs  # lazy: SQLAlchemy

    console = Console(verbose, quiet)
    engine = _store(site)
    if purge:
        if not subs.purge(engine, email):
            raise FieldfeedError(f"{email}: not on the list")
        console.info(f"{subs.normalize_email(email)}: deleted with its delivery history")
        return
    sub = subs.unsubscribe(engine, email, now=now_utc())
    if sub is None:
        raise FieldfeedError(f"{email}: not on the list")
    console.info(f"{sub.email}: unsubscribed")


@app.command("list")
def list_(
    status: Annotated[
        str | None,
        typer.Option(
            "--status", help="Only this status: pending, active, unsubscribed, bounced, complained."
        ),
    ] = None,
    site: SiteOption = Path("."),
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """Show every address with its name, tag filter and status."""
    from fieldfeed.store import subscribers as subs  # lazy: SQLAlchemy

    Console(verbose, quiet)
    if status is not None and status not in subs.STATUSES:
        raise UsageError(f"--status must be one of {', '.join(subs.STATUSES)}, got {status!r}")
    rows = subs.list_all(_store(site), status)
    if not rows:
        typer.echo("no subscribers" + (f" with status {status}" if status else ""), err=True)
        return
    width = max(len(s.email) for s in rows)
    name_w = max([len(s.name) for s in rows] + [4])
    for s in rows:
        tags = ",".join(s.tags) or "-"
        typer.echo(f"{s.email:<{width}}  {s.name or '-':<{name_w}}  {tags:<20}  {s.status}")
    counts: dict[str, int] = {}
    for s in rows:
        counts[s.status] = counts.get(s.status, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    typer.echo(f"{len(rows)} subscriber{'s' if len(rows) != 1 else ''} ({summary})", err=True)


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(help="The export: ours (email,name,tags,status) or a service's.")
    ],
    format_: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="auto (by the header row), fieldfeed, mailchimp, substack, buttondown, ghost.",
        ),
    ] = "auto",
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Say what would be added, updated, suppressed; write nothing."
        ),
    ] = False,
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="Leave out rows that cannot be read and import the rest (statuses still kept).",
        ),
    ] = False,
    no_tags: Annotated[
        bool,
        typer.Option("--no-tags", help="Ignore the file's tags/labels (they would filter posts)."),
    ] = False,
    site: SiteOption = Path("."),
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """Import a list export (ours, Mailchimp, Substack, Buttondown, Ghost).

    Statuses in the file are honoured: unsubscribed, cleaned/bounced,
    complained and disabled addresses are kept as suppressed and never
    mailed; unconfirmed ones become pending. An import never makes a
    non-active address active, and a suppressing status wins over an active
    row. Every bad row is reported as FILE:LINE and stops the import;
    --skip-invalid leaves out only rows that cannot be read.
    """
    from fieldfeed.cli.listformats import FORMATS
    from fieldfeed.cli.listimport import apply_import, load_list, plan_import, summary

    console = Console(verbose, quiet)
    if format_ not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {format_!r}")
    listing = load_list(file, format_)
    for message in listing.errors:
        console.error(message)
    for message in listing.skipped:
        console.detail(f"  skipped {message}")
    errors = len(listing.errors)
    if errors and not skip_invalid:
        raise FieldfeedError(
            f"{errors} bad row{'s' if errors != 1 else ''} in {file}; nothing imported (fix "
            "them, or pass --skip-invalid to leave them out: every other row keeps its status)"
        )
    engine = _existing_store(site) if dry_run else _store(site)
    if engine is None:
        changes = plan_import(None, listing, ignore_tags=no_tags)  # no list yet: all new
    else:
        with engine.begin() as conn:
            changes = plan_import(conn, listing, ignore_tags=no_tags)
            if not dry_run:
                apply_import(conn, changes, now_utc())
    verbs = {"added": "add", "updated": "update", "suppressed": "suppress"}
    for change in changes:
        if change.action in verbs:
            verb = verbs[change.action] if dry_run else change.action
            was = f", was {change.was}" if change.was and change.was != change.status else ""
            console.detail(f"  {verb} {change.email} ({change.status}{was})")
    extra = [f"{errors} bad row{'s' if errors != 1 else ''} skipped"] if errors else []
    if listing.skipped:
        extra.append(f"{len(listing.skipped)} never-subscribed rows left out")
    tail = "".join(f", {e}" for e in extra)
    prefix = "dry run, nothing written: " if dry_run else ""
    console.info(f"{file} ({listing.format}): {prefix}{summary(changes, dry_run=dry_run)}{tail}")


@app.command("export")
def export(
    file: Annotated[str, typer.Argument(help="Where to write the CSV; '-' for stdout.")] = "-",
    site: SiteOption = Path("."),
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """Write every subscriber as CSV (email,name,tags,status); `import` reads it back.

    A cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading
    single quote, shown by no spreadsheet and taken off again by `import`.
    """
    from fieldfeed.store import subscribers as subs  # lazy: SQLAlchemy

    console = Console(verbose, quiet)
    rows = subs.list_all(_store(site))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    write_safe_row(writer, ["email", "name", "tags", "status"])
    for s in rows:
        # Every cell, the address too: "=cmd@example.org" is a valid address.
        write_safe_row(writer, [s.email, s.name, ",".join(s.tags), s.status])
    if file == "-":
        sys.stdout.write(buffer.getvalue())
        return
    path = Path(file)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(buffer.getvalue(), encoding="utf-8")
    tmp.replace(path)
    console.info(f"{path}: {len(rows)} subscribers")


def _get(engine: Engine, email: str) -> Subscriber | None:
    from fieldfeed.store import subscribers as subs  # lazy: SQLAlchemy

    return subs.get(engine, email)
