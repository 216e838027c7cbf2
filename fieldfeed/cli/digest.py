"""``fieldfeed digest``: preview the next issue, send it (or finish an interrupted one)."""

from __future__ import annotations

import sys
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

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

if TYPE_CHECKING:
    from fieldfeed.model import ProgressCallback

app = typer.Typer(
    help="Preview and send the email digest.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.command("preview")
def preview(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Folder for the files.",
            show_default="<site>/preview",
            file_okay=False,
        ),
    ] = None,
    open_: Annotated[bool, typer.Option("--open", help="Open the HTML in a browser.")] = False,
    site: SiteOption = Path("."),
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """Write the next issue as HTML, text and .eml for a sample reader; sends nothing.

    Addressed to "Sample Reader <reader@example.org>" with an unsubscribe link that does not
    work, so the files hold no subscriber's data. An interrupted issue is previewed as it was
    frozen. Nothing is frozen or recorded. Use `digest send --to` for a copy with real links.
    """
    from fieldfeed import mail  # lazy: keeps `fieldfeed build` start-up light

    console = Console(verbose, quiet)
    settings = settings_for(site)
    result = mail.write_preview(settings, now_utc(), None, out or settings.root / "preview")
    if isinstance(result, str):
        console.info(f"no digest to preview: {result}")
        return
    console.info(f"issue #{result.issue} for {result.subscriber}:")
    for path in (result.html, result.text, result.eml):
        typer.echo(f"  {path}")
    if result.held:
        console.info(result.held)
    if open_:
        webbrowser.open(result.html.resolve().as_uri())


@app.command("send")
def send(
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help='Test send: the next issue to this one address, subject "[TEST] ...", '
            "not recorded in the ledger.",
        ),
    ] = None,
    include_old: Annotated[
        bool,
        typer.Option(
            "--include-old",
            help="Also send the posts held back as older than [digest] first_window_days "
            "when first seen (a back-dated import).",
        ),
    ] = False,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            min=0,
            help="Seconds to wait for another run of this site to finish (default: refuse).",
        ),
    ] = 0.0,
    site: SiteOption = Path("."),
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """Send the next issue now, or finish an interrupted one first.

    Every subscriber gets each issue once: a rerun after a crash sends only what is left and
    names the few recipients whose message was in flight (they may get a second copy with the
    same Message-ID). Exit codes: 0 done or nothing to send; 1 error; 3 some recipients failed.
    """
    from fieldfeed import mail  # lazy: keeps `fieldfeed build` start-up light

    console = Console(verbose, quiet)
    settings = settings_for(site)
    if to is not None:
        console.info(mail.send_test(settings, now_utc(), None, to))
        return
    report = mail.send_digest(
        settings,
        now_utc(),
        include_old=include_old,
        progress=terminal_progress(quiet),
        lock_wait=wait,
    )
    for line in report.summary_lines():
        console.info(line)
    exit_with(report.exit_code)


def terminal_progress(quiet: bool = False) -> ProgressCallback | None:
    """A progress bar on stderr when it is a terminal (and not quiet), else None."""
    if quiet or not is_terminal():
        return None
    bar: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = typer.progressbar(length=total, label="sending", file=sys.stderr)
            bar.__enter__()
        bar.update(1)
        if done >= total:
            bar.__exit__(None, None, None)

    return update
