"""Delivery transports: a Maildir folder or an SMTP relay. One object = one connection.

A transport hands one message to one recipient and says how it went: it returns the server's
reply on success, raises :class:`TemporaryFailure` (4xx, a dropped or refused connection:
worth retrying) or :class:`PermanentFailure` (5xx: this recipient, this issue, never retried),
and raises DeliveryError only when the transport cannot be used at all (bad credentials, TLS
certificate rejected, STARTTLS missing). Retrying, pacing and the ledger are the sender's job.
"""

from __future__ import annotations

import contextlib
import mailbox
import smtplib
import ssl
from pathlib import Path
from typing import Protocol

from fieldfeed.config import DeliverySettings
from fieldfeed.errors import DeliveryError
from fieldfeed.mail.headers import MessageError, ascii_address


class TemporaryFailure(Exception):
    """A 4xx reply or a connection problem; the message may be retried."""

    def __init__(self, reply: str, *, dropped: bool = False, maybe_delivered: bool = False):
        super().__init__(reply)
        self.reply = reply
        #: The connection is gone: reconnect before the next try.
        self.dropped = dropped
        #: The whole message had been sent when the connection broke, so the relay may have
        #: queued it (the one ambiguous case of RFC 5321 section 4.1.1.4 + a lost reply).
        self.maybe_delivered = maybe_delivered


class PermanentFailure(Exception):
    """A 5xx reply: this recipient will not get this message."""

    def __init__(self, reply: str):
        super().__init__(reply)
        self.reply = reply


class Transport(Protocol):
    def send(self, sender: str, recipient: str, message: bytes) -> str:
        """Deliver ``message``; return the server's reply. Raises the failures above."""

    def close(self) -> None:
        """Let go of the connection (idempotent)."""


class MaildirTransport:
    """Writes each message into a Maildir (tmp/ then an atomic rename into new/)."""

    def __init__(self, path: Path) -> None:
        try:
            # mailbox.Maildir(create=True) checks, then mkdirs: two connections opening the
            # same new Maildir at once race and one gets "File exists". mkdir(exist_ok) does not.
            for sub in ("tmp", "new", "cur"):
                (path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
            self._box = mailbox.Maildir(path, create=False)
        except OSError as exc:
            raise DeliveryError(f"Maildir {path}: {exc.strerror or exc}") from None
        self.path = path

    def send(self, sender: str, recipient: str, message: bytes) -> str:
        try:
            key = self._box.add(message)
        except OSError as exc:
            raise DeliveryError(f"Maildir {self.path}: {exc.strerror or exc}") from None
        return f"maildir {key}"

    def close(self) -> None:
        return None


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}".strip()


def _classify(code: int, message: bytes | str) -> Exception:
    reply = _reply(code, message)
    if 500 <= code < 600:
        return PermanentFailure(reply)
    return TemporaryFailure(reply, dropped=code == 421 or code < 400)


class SMTPTransport:
    """One SMTP connection, opened on first use and reused for every message.

    Certificates are checked (``ssl.create_default_context()``); every socket operation has
    ``settings.timeout``. The password is passed in by the caller, kept out of ``repr``, and
    never logged.
    """

    __slots__ = ("_password", "_smtp", "local_hostname", "settings")

    def __init__(
        self, settings: DeliverySettings, password: str | None, *, local_hostname: str | None = None
    ) -> None:
        self.settings = settings
        self._password = password
        self._smtp: smtplib.SMTP | None = None
        self.local_hostname = local_hostname

    def __repr__(self) -> str:
        s = self.settings
        return f"SMTPTransport({s.host}:{s.port}, security={s.security}, user={s.username!r})"

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        where = f"{s.host}:{s.port}"
        context = ssl.create_default_context()
        smtp: smtplib.SMTP | None = None
        try:
            if s.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    s.host,
                    s.port,
                    timeout=s.timeout,
                    context=context,
                    local_hostname=self.local_hostname,
                )
            else:
                smtp = smtplib.SMTP(
                    s.host, s.port, timeout=s.timeout, local_hostname=self.local_hostname
                )
            smtp.ehlo()
            if s.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise DeliveryError(
                        f"SMTP {where} does not offer STARTTLS (set [delivery] security)"
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, self._password or "")
        except ssl.SSLError as exc:
            _quietly_close(smtp)
            raise DeliveryError(f"SMTP {where}: TLS failed: {exc.reason or exc}") from None
        except smtplib.SMTPAuthenticationError as exc:
            _quietly_close(smtp)
            refused = _reply(exc.smtp_code, exc.smtp_error)
            raise DeliveryError(
                f"SMTP {where}: login as {s.username!r} refused: {refused}"
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            _quietly_close(smtp)
            raise DeliveryError(f"SMTP {where}: {exc}") from None
        except smtplib.SMTPResponseException as exc:
            _quietly_close(smtp)
            raise _classify(exc.smtp_code, exc.smtp_error) from None
        except (OSError, smtplib.SMTPException) as exc:
            _quietly_close(smtp)
            raise TemporaryFailure(f"cannot connect to {where}: {exc}", dropped=True) from None
        return smtp

    def send(self, sender: str, recipient: str, message: bytes) -> str:
        if self._smtp is None:
            self._smtp = self._connect()
        smtp = self._smtp
        stage = "before"
        try:
            code, msg = smtp.mail(_ascii_address(sender))
            if code != 250:
                self._rset()
                raise _classify(code, msg)
            code, msg = smtp.rcpt(_ascii_address(recipient))
            if code not in (250, 251):
                self._rset()
                raise _classify(code, msg)
            stage = "data"
            code, msg = smtp.data(message)
            if code != 250:
                raise _classify(code, msg)
            return _reply(code, msg)
        except smtplib.SMTPDataError as exc:  # DATA itself refused (no 354)
            self._rset()
            raise _classify(exc.smtp_code, exc.smtp_error) from None
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:
                self.close()
            raise _classify(exc.smtp_code, exc.smtp_error) from None
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            self.close()
            raise TemporaryFailure(
                f"connection lost: {exc or exc.__class__.__name__}",
                dropped=True,
                maybe_delivered=stage == "data",
            ) from None

    def _rset(self) -> None:
        try:
            assert self._smtp is not None
            self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            self.close()

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            _quietly_close(smtp)


def _quietly_close(smtp: smtplib.SMTP | None) -> None:
    if smtp is None:
        return
    with contextlib.suppress(OSError):
        smtp.close()


def _ascii_address(address: str) -> str:
    """The envelope form: an internationalised domain as IDNA A-labels (the same encoding
    the message headers use). An address that cannot be encoded is passed on as it is,
    for the relay to refuse."""
    try:
        return ascii_address(address)
    except MessageError:
        return address
