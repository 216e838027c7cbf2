"""How ``fieldfeed serve`` runs the app: uvicorn's settings, read deadlines, log redaction.

uvicorn on its own never times out a request that is still arriving: its only timer is the
keep-alive one, armed after a response. A client that sends half a header (or a body one
byte a minute) holds a connection for ever, and a few hundred such clients exhaust the
process. :class:`GuardedH11Protocol` gives every request a deadline for its header and
another for its body, and closes the connection when one passes.

We choose the h11 implementation deliberately (uvicorn would pick httptools when installed):
its parser is strict, pure Python, and the class we extend. h11 accepts a request with both
``Content-Length`` and ``Transfer-Encoding`` (it frames by the latter); the app refuses those
(:class:`fieldfeed.web.app.BodyLimitMiddleware`), because a proxy that framed by the former
would see a different request boundary (request smuggling).

Tokens in paths (``/u/<token>``, ``/confirm/<token>``, ``/preferences/<token>``) are
credentials: :func:`redact_tokens` is applied to every record any handler in the process
writes (uvicorn's access log included).
"""

from __future__ import annotations

import asyncio
import logging
import re

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from fieldfeed.config import ServeSettings

log = logging.getLogger(__name__)

#: Seconds an idle keep-alive connection stays open between requests.
KEEP_ALIVE_TIMEOUT = 5
#: Largest request line plus header h11 buffers (larger: 400 and closed).
MAX_HEADER_BYTES = 16 * 1024

_TOKEN_PATH = re.compile(r"(/(?:u|confirm|preferences)/)[^/?#\s\"'<>]+")


def redact_tokens(text: str) -> str:
    """``text`` with the token in any ``/u/<token>``, ``/confirm/<token>`` or
    ``/preferences/<token>`` replaced."""
    return _TOKEN_PATH.sub(r"\1<redacted>", text)


class RedactTokens(logging.Filter):
    """A handler filter: the message, its arguments and any traceback, with tokens redacted.

    Arguments keep their position and type (uvicorn's access formatter unpacks them).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_tokens(a) if isinstance(a, str) else a for a in record.args)
        if record.exc_info and not record.exc_text:
            # Formatters use exc_text when it is set, so the redacted text is what is written.
            record.exc_text = redact_tokens(logging.Formatter().formatException(record.exc_info))
        return True


def install_log_redaction() -> None:
    """Add :class:`RedactTokens` to every handler of the root and uvicorn loggers."""
    redactor = RedactTokens()
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access", "fieldfeed"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactTokens) for f in handler.filters):
                handler.addFilter(redactor)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's header and for its body.

    The deadline follows the client's side of the h11 state machine: IDLE (waiting for a
    header) gets ``header_timeout``, SEND_BODY gets ``body_timeout``; when the state is still
    the same when the timer fires, the connection is closed (the app, if it was reading the
    body, sees a disconnect). Bytes trickling in do not extend a deadline.
    """

    #: Seconds a client has to send a whole header, from when it may start (the connection
    #: opened, or the previous response ended). ``[serve] header_timeout``.
    header_timeout = 10.0
    #: Seconds a client has to send a whole body, from the end of its header.
    body_timeout = 20.0

    _phase: object = None
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _watch(self) -> None:
        """(Re)arm the deadline when the client's state changed."""
        state = self.conn.their_state
        if state is self._phase:
            return
        self._cancel()
        self._phase = state
        if state is h11.IDLE:
            limit = self.header_timeout
        elif state is h11.SEND_BODY:
            limit = self.body_timeout
        else:
            return
        self._deadline = self.loop.call_later(limit, self._expire, state)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self, state: object) -> None:
        self._deadline = None
        if self.conn.their_state is not state or self.transport.is_closing():
            return
        what = "header" if state is h11.IDLE else "body"
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.info("closed the connection from %s: request %s not received in time", client, what)
        self.transport.close()


def server_config(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    serve: ServeSettings | None = None,
    log_level: str = "info",
    access_log: bool = True,
) -> uvicorn.Config:
    """The uvicorn configuration ``fieldfeed serve`` runs with (tests start the same).

    ``serve`` gives the read deadlines (``[serve] header_timeout``/``body_timeout``).
    """
    serve = serve or ServeSettings()
    protocol = type(
        "GuardedH11Protocol",
        (GuardedH11Protocol,),
        {"header_timeout": serve.header_timeout, "body_timeout": serve.body_timeout},
    )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        log_level=log_level,
        access_log=access_log,
        lifespan="on",
        # Behind a reverse proxy on this machine the client address comes from
        # X-Forwarded-For (trusted from 127.0.0.1 only; FORWARDED_ALLOW_IPS widens it).
        proxy_headers=True,
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
    )


__all__ = [
    "GuardedH11Protocol",
    "RedactTokens",
    "install_log_redaction",
    "redact_tokens",
    "server_config",
]
