"""GET /health: is the server up, can it read the database, when were the feeds built."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from fieldfeed.web.dbcheck import DatabaseVerdict
from fieldfeed.web.services import WebServices
from fieldfeed.web.static import newest_mtime


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def check_health(services: WebServices, verdict: DatabaseVerdict) -> dict[str, object]:
    """The health report (blocking: touches the database and the output folder)."""
    # A real read of every table (dbcheck); why it failed goes to the log, not out.
    database = verdict.problem(services, time.monotonic()) is None
    # Imported here: the pipeline loads the Markdown and feed libraries, which serve never needs.
    from fieldfeed.pipeline import last_build

    built = last_build(services.settings)
    # No usable key means /subscribe, /confirm and /u/ answer 503: one-click unsubscribe in
    # every mailed digest is broken, which an uptime check must see.
    secret = services.secret is not None
    return {
        "ok": database and secret,
        "database": database,
        "last_build": built.isoformat(timespec="seconds") if built else None,
        "feeds_updated": _iso(newest_mtime(services.settings.output_dir)),
        "secret_configured": secret,
    }


async def health(request: Request) -> JSONResponse:
    services: WebServices = request.app.state.services
    verdict: DatabaseVerdict = request.app.state.database_verdict
    report = await run_in_threadpool(check_health, services, verdict)
    return JSONResponse(
        report, status_code=200 if report["ok"] else 503, headers={"Cache-Control": "no-store"}
    )
