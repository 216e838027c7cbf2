"""The ``fieldfeed`` command line: a thin edge over the pipeline.

Only this package maps errors to exit codes (0 done, 1 error, 2 usage, 3 partly delivered) and
prints them; it never shows a traceback for a known error, and never local variables (they may
hold secrets).
"""

from __future__ import annotations

import sys

import typer

from fieldfeed.cli import digest as digest_cli
from fieldfeed.cli import run as run_cli
from fieldfeed.cli import serve as serve_cli
from fieldfeed.cli import site
from fieldfeed.cli import subscribers as subscribers_cli
from fieldfeed.cli.common import run_app

app = typer.Typer(
    name="fieldfeed",
    help="Turn a folder of Markdown posts into RSS, Atom and JSON feeds and email digests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        from fieldfeed import __version__

        typer.echo(f"fieldfeed {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Show fieldfeed's version and exit.",
        is_eager=True,
        callback=_show_version,
        metavar="",
    ),
) -> None:
    """Turn a folder of Markdown posts into RSS, Atom and JSON feeds and email digests."""


site.register(app)
app.add_typer(digest_cli.app, name="digest")
app.add_typer(subscribers_cli.app, name="subscribers")
app.command("run")(run_cli.run)
app.command("serve")(serve_cli.serve)


def main() -> None:
    """Console-script entry point."""
    sys.exit(run_app(app))
