"""GET /health: is the server up, can it reach the database, when were the feeds built."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from fieldfeed.runner import last_build
from fieldfeed.web.services import WebServices
from fieldfeed.web.static import newest_mtime


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def check_health(services: WebServices) -> dict[str, object]:
    """The health report (blocking: touches the database and the output folder)."""
    database = True
    try:
        with services.engine().connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception:  # any failure means "not reachable"; details go to the log, not out
        database = False
    built = last_build(services.settings)
    return {
        "ok": database,
        "database": database,
        "last_build": built.isoformat(timespec="seconds") if built else None,
        "feeds_updated": _iso(newest_mtime(services.settings.output_dir)),
        "secret_configured": services.secret is not None,
    }


async def health(request: Request) -> JSONResponse:
    services: WebServices = request.app.state.services
    report = await run_in_threadpool(check_health, services)
    return JSONResponse(
        report, status_code=200 if report["ok"] else 503, headers={"Cache-Control": "no-store"}
    )
