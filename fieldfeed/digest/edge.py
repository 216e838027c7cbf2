"""What a send takes from the environment: the site secret, the transport, the send policy.

Read once, before anything is frozen, so a missing secret or password stops a run before it
leaves an open issue behind. ``fieldfeed serve`` verifies unsubscribe links with the same
:func:`load_site_secret`.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parseaddr

from fieldfeed import tokens
from fieldfeed.config import Settings
from fieldfeed.errors import ConfigError
from fieldfeed.sending import SendPolicy
from fieldfeed.transports import MaildirTransport, SMTPTransport, Transport


@dataclass(frozen=True, slots=True)
class SendingEdge:
    """What a send takes from the environment, read once before anything is frozen."""

    secret: bytes = dataclasses.field(repr=False)
    warnings: tuple[str, ...]
    connect: Callable[[], Transport] = dataclasses.field(repr=False)


def envelope_sender(settings: Settings) -> str:
    """The SMTP MAIL FROM (where bounces go): the address of ``[digest] from``."""
    return parseaddr(settings.digest.sender)[1] or settings.site.email


def send_policy(settings: Settings) -> SendPolicy:
    """How hard to push and how long to back off, from ``[delivery]``."""
    d = settings.delivery
    return SendPolicy(
        concurrency=d.concurrency,
        rate_limit=d.rate_limit,
        max_attempts=max(1, d.max_attempts),
        backoff_base=d.retry_base,
        backoff_cap=max(d.retry_base, d.retry_cap),
    )


def transport_factory(
    settings: Settings, environ: Mapping[str, str] = os.environ
) -> Callable[[], Transport]:
    """A function making one unconnected transport (one per sending thread)."""
    d = settings.delivery
    if d.transport == "maildir":
        path = settings.root / d.maildir
        return lambda: MaildirTransport(path)
    password: str | None = None
    if d.username:
        password = environ.get(d.password_env, "")
        if not password:
            raise ConfigError(
                f"[delivery] username is set but the environment variable {d.password_env} "
                "(named by password_env) is empty"
            )
    return lambda: SMTPTransport(d, password)


def load_site_secret(
    settings: Settings, environ: Mapping[str, str] = os.environ
) -> tuple[bytes, tuple[str, ...]]:
    """The key that signs unsubscribe links, and any warning to show.

    FIELDFEED_SECRET when set. Without it, the Maildir transport (a local demo) falls back to a
    random per-site secret kept in ``.fieldfeed/secret`` (0600), made once with a warning;
    SMTP (real mail to real people) requires the variable. ``fieldfeed serve`` must verify
    with the same key, so it should call this too.
    """
    if environ.get(tokens.SECRET_ENV, "").strip() or settings.delivery.transport != "maildir":
        return tokens.load_secret(environ), ()
    path = settings.state_dir / "secret"
    if path.exists():
        return path.read_bytes().strip(), ()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_urlsafe(32) + "\n")
    return path.read_bytes().strip(), (
        f"warning: {tokens.SECRET_ENV} is not set; made a per-site secret in {path} for "
        "unsubscribe links. Set the variable before sending over SMTP",
    )
