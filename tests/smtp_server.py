"""A real SMTP server on loopback for tests (aiosmtpd), with faults on demand.

- binds 127.0.0.1 only, on a free port picked by binding 127.0.0.1:0 first (aiosmtpd 1.4.6's
  ``Controller(port=0)`` fails);
- records every accepted message (envelope + raw bytes);
- answers chosen recipients with scripted replies ("451 ..." once, then accept; "550 ..."
  always), drops the connection without answering the DATA of chosen messages, and can
  slow down each message;
- stops on leaving the ``with`` block, and by itself after ``lifetime`` seconds anyway.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes

    @property
    def message_id(self) -> str:
        m = re.search(rb"^Message-ID: *(\S+)", self.raw, re.M | re.I)
        return m.group(1).decode() if m else ""

    def parsed(self) -> EmailMessage:
        msg = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class _Faults:
    #: address (lower case) -> replies to give to successive RCPTs; when used up, accept.
    rcpt: dict[str, list[str]] = field(default_factory=dict)
    #: address -> a reply given to every RCPT (a permanent failure).
    always: dict[str, str] = field(default_factory=dict)
    #: 1-based numbers of DATA commands (over the server's life) answered by hanging up.
    drop_data: set[int] = field(default_factory=set)
    #: Seconds to sleep before answering each DATA (to slow a run down).
    delay: float = 0.0


class _Handler:
    def __init__(self, server: SMTPTestServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, smtp: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        key = address.lower()
        with self.server.lock:
            faults = self.server.faults
            if key in faults.always:
                return faults.always[key]
            queued = faults.rcpt.get(key)
            if queued:
                return queued.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        import asyncio

        with self.server.lock:
            self.server.data_commands += 1
            number = self.server.data_commands
            drop = number in self.server.faults.drop_data
            delay = self.server.faults.delay
        if delay:
            await asyncio.sleep(delay)
        if drop:
            # Hang up before the 250: the client must treat the message as not delivered.
            smtp.transport.close()
            return "421 closing"
        raw = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        with self.server.lock:
            self.server.messages.append(
                Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(raw))
            )
        return f"250 2.0.0 queued as {number}"


class _Authenticator:
    """Accepts exactly one user and password (aiosmtpd's authenticator protocol)."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = (
            isinstance(data, LoginPassword)
            and data.login == self.user
            and data.password == self.password
        )
        return AuthResult(success=ok, handled=False)


class SMTPTestServer:
    """``with SMTPTestServer() as server:`` then point the site at ``server.port``."""

    def __init__(self, *, lifetime: float = 120.0, auth: tuple[str, str] | None = None) -> None:
        """``auth``: require AUTH with this (user, password); plain text is allowed without
        TLS because the server only ever listens on loopback."""
        self.host = "127.0.0.1"
        self.port = free_port()
        self.lock = threading.Lock()
        self.faults = _Faults()
        self.messages: list[Received] = []
        self.data_commands = 0
        extra: dict[str, Any] = {}
        if auth is not None:
            # AUTH offered without TLS: loopback only. (Not auth_required: aiosmtpd warns on
            # that combination, and our client logs in whenever a username is set anyway.)
            extra = {"authenticator": _Authenticator(*auth), "auth_require_tls": False}
        self._controller = Controller(
            _Handler(self), hostname=self.host, port=self.port, ready_timeout=10, **extra
        )
        self._lifetime = lifetime
        self._timer: threading.Timer | None = None
        self._stopped = False

    # faults ------------------------------------------------------------------------------

    def reply_to(self, address: str, *replies: str) -> None:
        """Answer the next RCPTs for ``address`` with ``replies`` in turn, then accept."""
        with self.lock:
            self.faults.rcpt.setdefault(address.lower(), []).extend(replies)

    def always_reply(self, address: str, reply: str) -> None:
        with self.lock:
            self.faults.always[address.lower()] = reply

    def drop_data(self, numbers: Iterable[int]) -> None:
        """Hang up instead of answering these DATA commands (1-based, over the server's life)."""
        with self.lock:
            self.faults.drop_data.update(numbers)

    def slow_down(self, seconds: float) -> None:
        with self.lock:
            self.faults.delay = seconds

    # results -----------------------------------------------------------------------------

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.messages)

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.messages)

    def by_recipient(self) -> dict[str, list[Received]]:
        out: dict[str, list[Received]] = {}
        for m in self.received():
            for r in m.rcpt_tos:
                out.setdefault(r.lower(), []).append(m)
        return out

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count >= count:
                return True
            time.sleep(0.005)
        return False

    # life --------------------------------------------------------------------------------

    def start(self) -> SMTPTestServer:
        self._controller.start()
        self._timer = threading.Timer(self._lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        with self.lock:
            if self._stopped:
                return
            self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
        self._controller.stop()

    def __enter__(self) -> SMTPTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
