"""gzip for pages (static files bring their own, precomputed, with their own ETag).

Starlette's GZipMiddleware is not used: it compresses whenever "gzip" appears anywhere in
Accept-Encoding (even ``gzip;q=0``) and leaves a response's ETag as it was, so a strong ETag
would name two different byte sequences. This one skips any response that already has an
ETag or a Content-Encoding, and parses Accept-Encoding properly.
"""

from __future__ import annotations

import gzip

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fieldfeed.web.static import accepts_gzip

_COMPRESSIBLE = (
    "text/",
    "application/json",
    "application/xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "image/svg+xml",
)


class GzipPages:
    """Compresses whole (non-streamed) textual responses of at least ``minimum_size`` bytes."""

    def __init__(self, app: ASGIApp, minimum_size: int = 1024, level: int = 6) -> None:
        self.app = app
        self.minimum_size = minimum_size
        self.level = level

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not accepts_gzip(
            Headers(scope=scope).get("accept-encoding", "")
        ):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        passthrough = False

        async def wrapped(message: Message) -> None:
            nonlocal start, passthrough
            if message["type"] == "http.response.start":
                headers = Headers(raw=message["headers"])
                ctype = headers.get("content-type", "")
                passthrough = (
                    "etag" in headers
                    or "content-encoding" in headers
                    or not ctype.startswith(_COMPRESSIBLE)
                )
                if passthrough:
                    await send(message)
                else:
                    start = message
                return
            if passthrough or start is None or message["type"] != "http.response.body":
                await send(message)
                return
            body = message.get("body", b"")
            if message.get("more_body", False):
                # A streamed response: send it as it is (none of ours stream).
                await send(start)
                start, passthrough = None, True
                await send(message)
                return
            headers = MutableHeaders(raw=start["headers"])
            headers.add_vary_header("Accept-Encoding")
            if len(body) >= self.minimum_size:
                body = gzip.compress(body, compresslevel=self.level, mtime=0)
                headers["Content-Encoding"] = "gzip"
                headers["Content-Length"] = str(len(body))
            await send(start)
            start = None
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, wrapped)
