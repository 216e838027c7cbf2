"""``fieldfeed subscribers``: add, remove, list, import and export the mailing list."""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
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
from fieldfeed.cli.csvcells import restore, write_safe_row
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
        typer.Option("--status", help="Only this status: pending, active, unsubscribed, bounced."),
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


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    email: str
    name: str
    tags: tuple[str, ...]
    status: str


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV with columns email,name,tags (header row).")],
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the good rows even if some are bad.")
    ] = False,
    site: SiteOption = Path("."),
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """Import addresses from CSV as active; any bad row (FILE:LINE) stops the whole import.

    Every bad row is reported; nothing is imported unless --skip-invalid is given.

    An address already on the list gets the file's name and tags (counted as "updated"); one
    that unsubscribed or bounced stays so: an old list is no proof of new consent.
    """
    from fieldfeed.store import subscribers as subs  # lazy: SQLAlchemy

    console = Console(verbose, quiet)
    rows, errors = _read_csv(file)
    for message in errors:
        console.error(message)
    if errors and not skip_invalid:
        raise FieldfeedError(
            f"{len(errors)} bad row{'s' if len(errors) != 1 else ''} in {file}; nothing imported "
            "(fix them, or pass --skip-invalid to import the good rows)"
        )
    engine = _store(site)
    now = now_utc()
    counts = {"added": 0, "updated": 0, "unchanged": 0, "kept unsubscribed/bounced": 0}
    with engine.begin() as conn:
        for row in rows:
            existing = subs.get(conn, row.email)
            status = row.status
            if existing is not None:
                if existing.status in ("unsubscribed", "bounced"):
                    status = existing.status
                    counts["kept unsubscribed/bounced"] += 1
                elif existing.status == "pending":
                    status = "active"
                else:
                    status = existing.status
            _sub, what = subs.upsert(
                conn, row.email, name=row.name, tags=row.tags, status=status, now=now
            )
            if not (existing is not None and existing.status in ("unsubscribed", "bounced")):
                counts[what] += 1
    skipped = f", {len(errors)} bad rows skipped" if errors else ""
    console.info(
        f"{file}: {counts['added']} added, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged, {counts['kept unsubscribed/bounced']} kept "
        f"unsubscribed/bounced{skipped}"
    )


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


def _read_csv(file: Path) -> tuple[list[_Row], list[str]]:
    """Parse and validate every row; return the good rows and one message per bad row."""
    from fieldfeed.store import subscribers as subs  # lazy: SQLAlchemy

    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FieldfeedError(f"{file}: no such file") from None
    except UnicodeDecodeError as exc:
        raise FieldfeedError(f"{file}: not UTF-8 (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[_Row] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    columns = {"email": 0, "name": 1, "tags": 2}
    next_line = 1
    for record in reader:
        line, next_line = next_line, reader.line_num + 1
        if not any(cell.strip() for cell in record):
            continue
        lowered = [c.strip().lower() for c in record]
        if line == 1 and "email" in lowered:
            unknown = [c for c in lowered if c and c not in ("email", "name", "tags", "status")]
            if unknown:
                errors.append(f"{file}:{line}: unknown column(s) {', '.join(unknown)}")
            columns = {c: i for i, c in enumerate(lowered) if c}
            continue

        def cell(name: str, rec: list[str] = record, cols: dict[str, int] = columns) -> str:
            i = cols.get(name)
            # restore(): undo export's formula guard ('=x -> =x), so it never piles up.
            return restore(rec[i].strip()) if i is not None and i < len(rec) else ""

        try:
            email = subs.normalize_email(cell("email"))
            name = subs.clean_name(cell("name"))
            tags = subs.parse_tags(cell("tags"))
            status = cell("status") or "active"
            if status not in subs.STATUSES:
                raise subs.InvalidSubscriber(f"unknown status {status!r}")
        except subs.InvalidSubscriber as exc:
            errors.append(f"{file}:{line}: {exc}")
            continue
        if len(record) > max(columns.values()) + 1:
            errors.append(f"{file}:{line}: {len(record)} fields, expected {len(columns)}")
            continue
        key = email.lower()
        if key in seen:
            errors.append(f"{file}:{line}: {email} already appears on line {seen[key]}")
            continue
        seen[key] = line
        rows.append(_Row(line, email, name, tags, status))
    return rows, errors


def _get(engine: Engine, email: str) -> Subscriber | None:
    from fieldfeed.store import subscribers as subs  # lazy: SQLAlchemy

    return subs.get(engine, email)
