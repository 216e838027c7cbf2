"""Site commands: ``init``, ``check``, ``build`` and ``publish``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fieldfeed import pipeline
from fieldfeed.cli.common import (
    Console,
    QuietOption,
    SiteOption,
    VerboseOption,
    exit_with,
    is_terminal,
    now_utc,
    settings_for,
)
from fieldfeed.cli.scaffold import create_site
from fieldfeed.errors import UsageError
from fieldfeed.model import ProgressCallback


def register(app: typer.Typer) -> None:
    """Attach the site commands to the top-level app."""
    app.command("init")(init)
    app.command("check")(check)
    app.command("build")(build)
    app.command("publish")(publish)


def init(
    directory: Annotated[
        Path, typer.Argument(help="Where to create the site (made if missing).", file_okay=False)
    ] = Path("."),
    title: Annotated[str, typer.Option(help="The site's title.")] = "My Field Notes",
    url: Annotated[str, typer.Option(help="The public URL of the site.")] = "https://example.org/",
    timezone: Annotated[
        str, typer.Option(help="IANA timezone for dates and the schedule.")
    ] = "UTC",
    quiet: QuietOption = False,
) -> None:
    """Create a new site: fieldfeed.toml, a first post and a .gitignore.

    Refuses to touch a folder that already holds a fieldfeed.toml.
    """
    console = Console(quiet=quiet)
    created = create_site(directory, title=title, url=url, timezone=timezone, now=now_utc())
    for path in created:
        console.info(f"created {path}")
    console.info(
        f"Next: edit {directory / 'fieldfeed.toml'}, write posts in {directory / 'content'}, "
        f"then run `fieldfeed build --site {directory}`."
    )


def check(
    site: SiteOption = Path("."), verbose: VerboseOption = 0, quiet: QuietOption = False
) -> None:
    """Validate the config and every post; report every problem. Writes nothing."""
    console = Console(verbose, quiet)
    settings = settings_for(site)
    report = pipeline.check(settings, now_utc())
    _warnings(console, report)
    c = report.content
    console.info(
        f"ok: {_n(c.files, 'file')}, {len(c.posts)} published, {_n(c.drafts, 'draft')}, "
        f"{c.future} scheduled; {len(report.files)} output files "
        f"({len(report.written.written)} would change) in {report.seconds:.2f} s"
    )


def build(
    site: SiteOption = Path("."),
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", help="Worker processes for rendering (default: all cores)."),
    ] = None,
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """Write the feeds (RSS, Atom, JSON Feed; site-wide and per tag) atomically.

    A build with a broken post writes nothing; a build with nothing changed rewrites nothing.
    """
    console = Console(verbose, quiet)
    if jobs is not None and jobs < 1:
        raise UsageError("--jobs must be at least 1")
    settings = settings_for(site, schedule=False)  # build never reads the schedule
    report = pipeline.build(settings, now_utc(), jobs=jobs)
    _warnings(console, report)
    _written(console, report)
    console.info(f"built {settings.output_dir}: {report.summary()}")


def publish(
    site: SiteOption = Path("."),
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", "-n", help="Say what would be written and sent; do nothing."),
    ] = False,
    digest: Annotated[
        bool | None,
        typer.Option(
            "--digest/--no-digest",
            # "\\[" because rich would read "[digest]" as markup and drop it.
            help="Force the digest now (--digest) or skip it (--no-digest). "
            "Default: send when the \\[digest] schedule says one is due.",
            show_default=False,
        ),
    ] = None,
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """Build and publish the feeds, then send the digest if one is due.

    Exit codes: 0 done (or nothing to do), 1 error (nothing published or sent),
    3 feeds published but some recipients could not be delivered.
    """
    console = Console(verbose, quiet)
    settings = settings_for(site)
    progress = _progress_printer() if is_terminal() and not quiet else None
    result = pipeline.publish(
        settings,
        now_utc(),
        dry_run=dry_run,
        force_digest=digest is True,
        skip_digest=digest is False,
        progress=progress,
    )
    _warnings(console, result.build)
    _written(console, result.build)
    verb = "would publish" if dry_run else "published"
    console.info(f"{verb} {settings.output_dir}: {result.build.summary()}")
    if result.digest is not None:
        for line in result.digest.summary_lines():
            console.info(line)
    exit_with(result.exit_code)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _warnings(console: Console, report: pipeline.BuildReport) -> None:
    for problem in report.content.warnings:
        console.warn(str(problem))


def _written(console: Console, report: pipeline.BuildReport) -> None:
    for path in report.written.written:
        console.detail(f"  wrote {path}")
    for path in report.written.removed:
        console.detail(f"  removed {path}")


def _progress_printer() -> ProgressCallback:
    """A one-line progress indicator on stderr, redrawn in place."""

    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        typer.echo(
            f"\rsending [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
            err=True,
            nl=done >= total,
        )

    return show


__all__ = ["register"]
