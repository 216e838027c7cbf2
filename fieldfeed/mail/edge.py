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
from pathlib import Path

from fieldfeed import statefiles
from fieldfeed.config import Settings
from fieldfeed.errors import ConfigError, StateError
from fieldfeed.mail import tokens
from fieldfeed.mail.message import check_message_settings
from fieldfeed.mail.sending import SendPolicy
from fieldfeed.mail.transports import MaildirTransport, SMTPTransport, Transport


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


#: Where the Maildir demo keeps its generated secret, inside the state folder.
SECRET_FILE = "secret"  # noqa: S105 (a file name, not a secret)


def load_site_secret(
    settings: Settings, environ: Mapping[str, str] = os.environ
) -> tuple[tokens.SigningKey, tuple[str, ...]]:
    """The key that signs unsubscribe links, and any warning to show.

    FIELDFEED_SECRET when set. Without it, the Maildir transport (a local demo) falls back to a
    random per-site secret kept in ``.fieldfeed/secret``, made once (atomically, 0600) with a
    warning; SMTP (real mail to real people) requires the variable. ``fieldfeed serve`` must
    verify with the same key, so it calls this too. Either way a key shorter than 32 bytes,
    or a secret file other users may read, is a one-line error (ConfigError or StateError).
    """
    if environ.get(tokens.SECRET_ENV, "").strip() or settings.delivery.transport != "maildir":
        return tokens.load_secret(environ), ()
    path = settings.state_dir / SECRET_FILE
    key = read_secret_file(path)
    if key is not None:
        return key, ()
    made = statefiles.write_new_private_file(path, secrets.token_urlsafe(32).encode() + b"\n")
    key = read_secret_file(path)
    if key is None:  # deleted between our write and our read: let the next run make one
        raise StateError(f"{path} disappeared while it was being made; run the command again")
    if not made:  # another process made it first; its key is the one in use
        return key, ()
    return key, (
        f"warning: {tokens.SECRET_ENV} is not set; made a per-site secret in {path} for "
        "unsubscribe links. Set the variable before sending over SMTP",
    )


def check_sending_setup(settings: Settings, environ: Mapping[str, str] = os.environ) -> None:
    """Raise what :func:`load_site_secret` and :func:`transport_factory` would, making nothing.

    ``publish`` calls it before it writes a single feed, so an unusable secret or a missing
    SMTP password is exit 1 with nothing published. A Maildir site's secret file that does
    not exist yet is fine: the send makes it (and says so).
    """
    if environ.get(tokens.SECRET_ENV, "").strip() or settings.delivery.transport != "maildir":
        tokens.load_secret(environ)
    else:
        read_secret_file(settings.state_dir / SECRET_FILE)
    transport_factory(settings, environ)
    check_message_settings(settings)


def read_secret_file(path: Path) -> tokens.SigningKey | None:
    """The key in ``path`` (surrounding whitespace ignored), None if there is no such file.

    An existing file that is empty or too short is refused, never replaced: fieldfeed writes
    this file atomically, so a short one was cut off by an older version on a full disk, or
    edited by hand. Links signed with what it held are already in inboxes; making a new key
    breaks them (and closes the hole), which is the operator's decision, so the message says
    how. A file other users may read or write is refused too (they could forge links).
    """
    renew = "delete it to have a new secret made (links already mailed stop working)"
    data = statefiles.read_private_file(path, f"If others could have read it, {renew} instead")
    if data is None:
        return None
    return tokens.check_secret(
        data.strip(),
        str(path),
        f"A write probably failed (a full disk?) or it was edited: {renew}, or set "
        f"{tokens.SECRET_ENV}",
    )
