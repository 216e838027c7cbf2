"""Pieces every command shares: the --site/-v/-q options, output helpers, error mapping."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from fieldfeed.config import Settings, load_settings
from fieldfeed.errors import FieldfeedError
from fieldfeed.locales import language_warning

SiteOption = Annotated[
    Path,
    typer.Option(
        "--site",
        "-s",
        help="The site's folder (holding fieldfeed.toml).",
        file_okay=False,
        show_default="current directory",
    ),
]
VerboseOption = Annotated[
    int,
    typer.Option(
        "--verbose",
        "-v",
        count=True,
        help="More detail (-vv for debug logs).",
        show_default=False,
        metavar="",  # a counted flag takes no value; typer would show <int>
    ),
]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="Only errors.", metavar="", show_default=False)
]


class Console:
    """What a command prints: info to stdout unless quiet; errors and warnings to stderr."""

    def __init__(self, verbose: int = 0, quiet: bool = False) -> None:
        self.verbose = 0 if quiet else verbose
        self.quiet = quiet
        level = logging.WARNING
        if self.verbose >= 2:
            level = logging.DEBUG
        elif self.verbose == 1:
            level = logging.INFO
        if quiet:
            level = logging.ERROR
        logging.basicConfig(
            level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
        )

    def info(self, message: str) -> None:
        if not self.quiet:
            typer.echo(message)

    def detail(self, message: str) -> None:
        if self.verbose:
            typer.echo(message)

    def warn(self, message: str) -> None:
        if not self.quiet:
            typer.echo(message, err=True)

    def error(self, message: str) -> None:
        typer.echo(message, err=True)


def settings_for(site: Path, *, schedule: bool = True) -> Settings:
    """Load the site's settings; errors propagate as ConfigError (exit 1).

    ``schedule=False`` for commands that never use ``[digest] schedule`` (see load_settings).
    """
    settings = load_settings(site, check_schedule=schedule)
    warning = language_warning(settings.root, settings.site.language)
    if warning is not None:  # dates and built-in words fall back to English; say so, go on
        typer.echo(f"warning: {warning}", err=True)
    return settings


def now_utc() -> datetime:
    """The clock, read only at the edges. FIELDFEED_NOW (ISO 8601) pins it for tests/demos."""
    import os

    pinned = os.environ.get("FIELDFEED_NOW")
    if pinned:
        value = datetime.fromisoformat(pinned)
        if value.tzinfo is None:
            raise FieldfeedError(f"FIELDFEED_NOW must have a UTC offset, got {pinned!r}")
        return value
    return datetime.now(UTC)


def run_app(app: typer.Typer, args: list[str] | None = None) -> int:
    """Run the typer app and turn known errors into one-line messages and exit codes."""
    try:
        result = app(args=args, standalone_mode=False, prog_name="fieldfeed")
    except FieldfeedError as exc:
        typer.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.TyperException as exc:
        # typer vendors click: usage errors (bad option, missing argument) land here.
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"error: {exc}", err=True)
        return int(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if not _is_database_error(exc):
            raise
        # A damaged or unreachable database, met in the middle of a command: one line with the
        # driver's message, never SQLAlchemy's text (it quotes the SQL and its parameters,
        # subscribers' addresses among them) or a traceback.
        from fieldfeed.store.engine import database_error_text

        typer.echo(f"error: state database: {database_error_text(exc)}", err=True)
        return 1
    # With standalone_mode off, click returns the code of a typer.Exit instead of raising it.
    return result if isinstance(result, int) else 0


def _is_database_error(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLAlchemy's, without importing SQLAlchemy into every command
    (``build`` never touches the database; if SQLAlchemy was never imported, it is not)."""
    sa_exc = sys.modules.get("sqlalchemy.exc")
    return sa_exc is not None and isinstance(exc, sa_exc.SQLAlchemyError)


def exit_with(code: int) -> None:
    """End the command with ``code`` (used for 3: published but some deliveries failed)."""
    if code:
        raise typer.Exit(code)


def is_terminal() -> bool:
    return sys.stderr.isatty()
