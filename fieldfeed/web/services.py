"""What the web endpoints need from the rest of fieldfeed, gathered in one object.

The app factory builds the real ones from the settings; tests pass a fixed clock or a
different transport. The database is opened on first use, so ``serve`` starts (and /health
answers, saying what is wrong) even when the state database is unreachable.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from fieldfeed.config import Settings
from fieldfeed.errors import FieldfeedError, StateError
from fieldfeed.mail.tokens import check_secret
from fieldfeed.web.mail import MailSender, transport_sender
from fieldfeed.web.ratelimit import RateLimiter

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class WebServices:
    """The settings, the clock, the signing secret, the store and the mail transport."""

    settings: Settings
    #: None when there is no usable key (unset, too short, a secret file open to others):
    #: token endpoints then answer 503, /health says so, nothing else breaks. Never in a repr.
    secret: bytes | None = field(repr=False)
    clock: Callable[[], datetime] = _utc_now
    #: Sends confirmation mail; None builds the configured transport on first use.
    send_mail: MailSender | None = None
    #: How long a confirmation link stays valid, in seconds.
    confirm_max_age: int = 48 * 3600
    #: Confirmation mails per address per hour (stops mail-bombing one address from many IPs).
    mail_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(3, 3600.0))
    _engine: Engine | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        # Whoever builds the services, a short key is refused and the key's bytes stay hidden.
        if self.secret is not None:
            self.secret = check_secret(self.secret, "the signing secret", "")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> WebServices:
        """Services for a real server: the same signing key the digest sender uses."""
        from fieldfeed.mail import load_site_secret

        secret: bytes | None
        try:
            # FIELDFEED_SECRET; for a Maildir demo without it, the per-site secret file.
            secret, warnings = load_site_secret(settings)
            for warning in warnings:
                log.warning("%s", warning)
        except FieldfeedError as exc:  # no key, a short key, or a secret file open to others
            log.warning("%s; /subscribe, /confirm and /u/ answer 503 until it is fixed", exc)
            secret = None
        return cls(settings=settings, secret=secret, **overrides)  # type: ignore[arg-type]

    def engine(self) -> Engine:
        """The state store (opened and migrated on first use). Raises StateError."""
        with self._lock:
            if self._engine is None:
                from fieldfeed.store import open_store

                try:
                    self._engine = open_store(self.settings.database_url)
                except OSError as exc:  # its folder cannot be made: a StateError like the rest
                    raise StateError(f"state database: {exc.strerror or exc}") from None
            return self._engine

    def mailer(self) -> MailSender:
        """The function that sends confirmation mail through ``[delivery]``'s transport."""
        if self.send_mail is None:
            self.send_mail = transport_sender(self.settings)
        return self.send_mail

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
