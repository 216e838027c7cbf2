"""The ASGI application behind ``fieldfeed serve``: routes, middleware, error pages.

Every response a client can provoke is a 2xx, 3xx or 4xx with a short message; anything
unexpected is logged and answered with a plain 500 page that reveals nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fieldfeed.config import Settings
from fieldfeed.errors import StateError
from fieldfeed.store.engine import database_error_text
from fieldfeed.web import archive, preferences, subscribe, unsubscribe
from fieldfeed.web.compress import GzipPages
from fieldfeed.web.dbcheck import DatabaseVerdict
from fieldfeed.web.health import health
from fieldfeed.web.mail import public_base
from fieldfeed.web.origin import configured_origins
from fieldfeed.web.pages import Pages
from fieldfeed.web.ratelimit import RateLimiter
from fieldfeed.web.services import WebServices
from fieldfeed.web.static import StaticFiles
from fieldfeed.web.topics import SiteTopics

log = logging.getLogger(__name__)

#: Largest request body accepted (a subscribe form is a few hundred bytes).
MAX_BODY = 64 * 1024

_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    413: "Request too large",
    429: "Too many requests",
    503: "Not available",
}


def create_app(settings: Settings, services: WebServices | None = None) -> Starlette:
    """The app for one site. ``services`` defaults to the real ones (secret from the env)."""
    services = services or WebServices.from_settings(settings)
    static = StaticFiles(settings.output_dir)
    pages = Pages(settings)
    prefix = _site_prefix(settings)

    async def serve_static(request: Request) -> Response:
        path = request.path_params.get("path", "")
        response = static.respond(request, path)
        if response is None and prefix and ("/" + path).startswith(prefix):
            # The feeds link their stylesheet under the site URL's path (/blog/feed.xsl).
            response = static.respond(request, ("/" + path)[len(prefix) :])
        if response is None:
            if path in ("", "index.html"):
                return pages.response("index", subscribe_path="/subscribe", feeds=_feeds(static))
            raise HTTPException(404, "There is nothing at this address.")
        return response

    async def archive_slash(request: Request) -> Response:
        # A fixed, same-site target: never built from anything the client sent.
        return RedirectResponse("/archive/", status_code=308)

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/subscribe", subscribe.subscribe_form, methods=["GET"]),
        Route("/subscribe", subscribe.subscribe_post, methods=["POST"]),
        Route("/confirm/{token}", subscribe.confirm, methods=["GET"]),
        Route("/confirm/{token}", subscribe.confirm_post, methods=["POST"]),
        Route("/u/{token}", unsubscribe.unsubscribe_page, methods=["GET"]),
        Route("/u/{token}", unsubscribe.unsubscribe_post, methods=["POST"]),
        Route(preferences.PREFERENCES_ROUTE, preferences.preferences_page, methods=["GET"]),
        Route(preferences.PREFERENCES_ROUTE, preferences.preferences_post, methods=["POST"]),
        Route("/archive", archive_slash, methods=["GET"]),
        Route("/archive/", archive.archive_index, methods=["GET"]),
        Route("/archive/{number}/", archive.archive_issue, methods=["GET"]),
        Route("/{path:path}", serve_static, methods=["GET"]),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        # Built-in words in the site's language: the titles and every fixed message the
        # endpoints raise are msgids of the catalog (fieldfeed/catalogs/<lang>.po).
        title = pages.translate(_TITLES.get(exc.status_code, "Request failed"))
        detail = pages.translate(exc.detail or "")
        message = detail if detail and detail != title else f"{title}."
        response = pages.error(exc.status_code, title, _short(message))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def database_error(request: Request, exc: Exception) -> Response:
        # A known failure (unreachable, locked, corrupt): one line in the log, a 503 page.
        log.error(
            "%s %s: state database: %s",
            request.method,
            request.url.path,
            database_error_text(exc),
        )
        return pages.error(
            503, _TITLES[503], "This service is not available right now. Try again later."
        )

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return PlainTextResponse("Internal server error.", status_code=500)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        services.close()

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(BodyLimitMiddleware, max_body=MAX_BODY),
            Middleware(GzipPages, minimum_size=1024, level=6),
        ],
        exception_handlers={
            HTTPException: http_error,
            SQLAlchemyError: database_error,
            StateError: database_error,
            Exception: server_error,
        },
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.pages = pages
    app.state.limiter = RateLimiter(settings.serve.subscribe_rate, 3600.0)
    # Preferences POSTs count on their own: changing topics must not use up the sign-ups.
    app.state.preferences_limiter = RateLimiter(settings.serve.subscribe_rate, 3600.0)
    app.state.topics = SiteTopics(settings.output_dir)
    app.state.origins = configured_origins(settings)
    app.state.database_verdict = DatabaseVerdict()
    if public_base(settings) is None:
        log.warning(
            "[digest] unsubscribe_url is not set: /subscribe answers 503 (confirmation links "
            "are built from it, never from the request's Host header)"
        )
    return app


def _feeds(static: StaticFiles) -> list[str]:
    return [name for name in ("rss.xml", "atom.xml", "feed.json") if static.resolve(name)]


def _site_prefix(settings: Settings) -> str:
    """The path of ``[site] url`` without its trailing slash ("" for a site at the root)."""
    from urllib.parse import urlsplit

    return urlsplit(settings.site.url).path.rstrip("/")


def _short(message: str) -> str:
    return message if len(message) <= 200 else message[:197] + "..."


class BodyLimitMiddleware:
    """Refuses ambiguous framing (400, connection closed) and bodies over ``max_body``
    bytes (413), declared or streamed.

    A request with both Content-Length and Transfer-Encoding (RFC 9112 6.3) is how requests
    are smuggled past a proxy that frames by the other header: h11 frames by
    Transfer-Encoding and would answer and keep the connection. We answer 400 and close
    it, reading nothing of the body.
    """

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        names = {key for key, _ in scope.get("headers", [])}
        if b"transfer-encoding" in names and b"content-length" in names:
            log.info("refused a request with both Content-Length and Transfer-Encoding")
            refusal = PlainTextResponse(
                "Bad request: both Content-Length and Transfer-Encoding.",
                status_code=400,
                headers={"Connection": "close"},
            )
            await refusal(scope, receive, send)
            return
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    too_big = int(value) > self.max_body
                except ValueError:
                    too_big = True
                if too_big:
                    await PlainTextResponse("Request too large.", status_code=413)(
                        scope, receive, send
                    )
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise HTTPException(413, "Request too large.")
            return message

        await self.app(scope, limited, send)


__all__ = ["create_app"]
