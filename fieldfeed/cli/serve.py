"""``fieldfeed serve``: the feeds, subscribe/confirm, one-click unsubscribe and the archive."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fieldfeed.cli.common import Console, QuietOption, SiteOption, VerboseOption, settings_for
from fieldfeed.errors import UsageError


def serve(
    site: SiteOption = Path("."),
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on (default: the serve section's host, 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="Port to listen on (default: the serve section's port, 8080)."),
    ] = None,
    verbose: VerboseOption = 0,
    quiet: QuietOption = False,
) -> None:
    """Serve the feeds, subscribe/confirm, one-click unsubscribe, the archive and /health.

    Routes: the output folder at its paths, /subscribe, /confirm/TOKEN, /u/TOKEN,
    /archive/, /health. Put a TLS reverse proxy in front (docs/operations.md).
    FIELDFEED_SECRET must be the key `run` and `publish` sign unsubscribe links with.
    """
    import uvicorn

    from fieldfeed.web.app import create_app
    from fieldfeed.web.dbcheck import check_database
    from fieldfeed.web.server import install_log_redaction, server_config
    from fieldfeed.web.services import WebServices

    console = Console(max(verbose, 1), quiet)  # access log and startup lines by default
    settings = settings_for(site)
    host = host or settings.serve.host
    port = settings.serve.port if port is None else port
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be 0-65535, got {port}")
    services = WebServices.from_settings(settings)
    app = create_app(settings, services)
    problem = check_database(services)
    if problem:
        # Feeds need no database: serve them, and say (once, in one line) what is wrong.
        console.warn(
            f"warning: state database: {problem}; /health answers 503 and the endpoints "
            "that need it answer 503 until it is repaired"
        )
    config = server_config(
        app,
        host,
        port,
        serve=settings.serve,
        log_level="warning" if quiet else ("debug" if verbose >= 2 else "info"),
        access_log=not quiet,
    )
    install_log_redaction()  # after uvicorn set its handlers up (in Config)
    console.info(f"serving {settings.output_dir} on http://{host}:{port}/ (Ctrl-C stops)")
    server = uvicorn.Server(config)
    server.run()
    if not server.started:  # uvicorn logged why (the port is taken, say)
        raise typer.Exit(1)
