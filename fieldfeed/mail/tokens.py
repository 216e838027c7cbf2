"""Signed tokens for one-click unsubscribe, double-opt-in confirmation and preferences links.

HMAC-SHA256 with the site's secret (``FIELDFEED_SECRET``). Each token kind MACs a distinct
purpose prefix, so an unsubscribe token can never pass as a confirmation token or the other way
round. Tokens are URL-safe (``[A-Za-z0-9._-]``) and verified in constant time. Only
:func:`load_secret` reads the environment, and only the edges (CLI, server) call it.

Every MAC goes through :func:`_mac`, which refuses a key shorter than :data:`MIN_SECRET_BYTES`:
an empty key (a 0-byte ``.fieldfeed/secret``) once signed real links that anyone could forge,
so no source of keys, present or future, can sign or verify with a short one. Keys loaded for
use are :class:`SigningKey` objects, whose ``repr``/``str`` never show the bytes.

Formats (all parts URL-safe)::

    unsubscribe:   <subscriber id, decimal>.<base64url(MAC[:12])>            e.g. 345.Xy3...
    confirmation:  <base64url(email)>.<issued_at, decimal>.<base64url(MAC[:15])>
    preferences:   <subscriber id>.<issued_at, decimal>.<base64url(MAC[:15])>
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from fieldfeed.errors import ConfigError

#: The environment variable holding the signing secret.
SECRET_ENV = "FIELDFEED_SECRET"  # noqa: S105 (the variable's name, not a secret)
#: Shortest accepted signing key, in bytes (``secrets.token_urlsafe(32)`` gives 43).
MIN_SECRET_BYTES = 32
#: How to make a good key, for error messages.
MAKE_SECRET_HINT = '`python -c "import secrets; print(secrets.token_urlsafe(32))"`'  # noqa: S105 (a command)

_UNSUB_PURPOSE = b"fieldfeed/unsubscribe/v1\x00"
_CONFIRM_PURPOSE = b"fieldfeed/confirm/v1\x00"
_PREFS_PURPOSE = b"fieldfeed/preferences/v1\x00"
#: How long a preferences link works, in seconds. It shows the address and its topics and can
#: change them, so an old forwarded mail should not keep that power for ever; every mail
#: carries a fresh link, and unsubscribing (``/u/``) never expires.
PREFERENCES_MAX_AGE = 180 * 24 * 3600
# 12 bytes (96 bits) keeps the unsubscribe link short enough for List-Unsubscribe (see
# FIELD-NOTES: long URIs get RFC 2047-encoded); forging one still takes ~2**95 tries online.
_UNSUB_MAC_BYTES = 12
_CONFIRM_MAC_BYTES = 15
#: Seconds a confirmation token may appear to come from the future (clock skew between hosts).
CLOCK_SKEW = 300

_DECIMAL = re.compile(r"(?:0|[1-9][0-9]{0,18})")
_B64 = re.compile(r"[A-Za-z0-9_-]*")


class SigningKey(bytes):
    """A signing key: plain bytes to ``hmac``, but never shown by ``repr``, ``str`` or logs.

    Tracebacks that print locals, ``%s`` in a log call and dataclass reprs all go through
    ``repr``/``str``, so the key cannot leak through them. Made only by :func:`check_secret`.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<SigningKey, {len(self)} bytes, hidden>"

    __str__ = __repr__


def check_secret(value: bytes, source: str, fix: str) -> SigningKey:
    """``value`` as a SigningKey if it is at least MIN_SECRET_BYTES long, else ConfigError.

    ``source`` names where the key came from (a variable or a file, never the key) and ``fix``
    says what to do; both go into the one-line message.
    """
    if len(value) >= MIN_SECRET_BYTES:
        return SigningKey(value)
    what = "is empty" if not value else f"is too short ({len(value)} bytes)"
    message = (
        f"{source} {what}: a signing key needs at least {MIN_SECRET_BYTES} bytes, or anyone "
        "can forge unsubscribe and confirmation links."
    )
    raise ConfigError(f"{message} {fix}" if fix else message)


def load_secret(environ: Mapping[str, str] = os.environ) -> SigningKey:
    """The signing secret from ``FIELDFEED_SECRET``, as UTF-8 bytes.

    Raises ConfigError when it is unset or shorter than 32 bytes. The message names the
    variable, never its value, and this function logs nothing.
    """
    value = environ.get(SECRET_ENV, "")
    if not value.strip():
        raise ConfigError(
            f"{SECRET_ENV} is not set: it signs unsubscribe and confirmation links. Set it to a "
            f"long random value, e.g. the output of {MAKE_SECRET_HINT}, and keep it stable "
            "(changing it invalidates every link already mailed)"
        )
    return check_secret(
        value.encode("utf-8"),
        SECRET_ENV,
        f"Set it to a long random value, e.g. the output of {MAKE_SECRET_HINT}",
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes | None:
    """Strict base64url decode without padding; None for anything non-canonical."""
    if not _B64.fullmatch(text) or len(text) % 4 == 1:
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    # Reject encodings with stray low bits, so each payload has exactly one spelling.
    return data if _b64(data) == text else None


def _mac(secret: bytes, purpose: bytes, payload: bytes, size: int) -> bytes:
    """The truncated HMAC: the one place a key is used, so a short key is refused here."""
    if len(secret) < MIN_SECRET_BYTES:
        # Verifiers catch this and answer "not valid"; signers fail loudly.
        raise ValueError(f"refusing a signing key shorter than {MIN_SECRET_BYTES} bytes")
    return hmac.new(secret, purpose + payload, hashlib.sha256).digest()[:size]


def sign_unsubscribe(secret: bytes, subscriber_id: int) -> str:
    """A short URL-safe token naming ``subscriber_id`` (about 18 to 24 characters).

    Does not expire: an unsubscribe link in a years-old digest must still work.
    """
    if subscriber_id < 0:
        raise ValueError(f"subscriber id must not be negative, got {subscriber_id}")
    ident = str(subscriber_id)
    mac = _mac(secret, _UNSUB_PURPOSE, ident.encode("ascii"), _UNSUB_MAC_BYTES)
    return f"{ident}.{_b64(mac)}"


def verify_unsubscribe(secret: bytes, token: str) -> int | None:
    """The subscriber id in ``token``, or None if it is forged, altered or garbage.

    Never raises, whatever ``token`` holds. The MAC is compared with ``hmac.compare_digest``.
    """
    try:
        ident, sep, mac_text = token.partition(".")
        if not sep or not _DECIMAL.fullmatch(ident):
            return None
        mac = _unb64(mac_text)
        if mac is None or len(mac) != _UNSUB_MAC_BYTES:
            return None
        expected = _mac(secret, _UNSUB_PURPOSE, ident.encode("ascii"), _UNSUB_MAC_BYTES)
        return int(ident) if hmac.compare_digest(mac, expected) else None
    except Exception:  # a verifier on a public endpoint must never raise
        return None


def _confirm_payload(email: str, issued_at: int) -> bytes:
    # The timestamp is decimal digits only, so the NUL separator cannot be forged into it.
    return str(issued_at).encode("ascii") + b"\x00" + email.encode("utf-8")


def sign_confirmation(secret: bytes, email: str, issued_at: int) -> str:
    """A URL-safe token for confirming ``email``, issued at ``issued_at`` (Unix seconds).

    The address is carried in the token (so ``serve`` needs no lookup to show it) and
    covered by the MAC; the caller decides the maximum age when verifying.
    """
    if issued_at < 0:
        raise ValueError(f"issued_at must not be negative, got {issued_at}")
    mac = _mac(secret, _CONFIRM_PURPOSE, _confirm_payload(email, issued_at), _CONFIRM_MAC_BYTES)
    return f"{_b64(email.encode('utf-8'))}.{issued_at}.{_b64(mac)}"


def verify_confirmation(secret: bytes, token: str, now: int, max_age: int) -> str | None:
    """The email address in ``token`` if it is authentic and not older than ``max_age`` seconds.

    None for forged, altered, garbage or expired tokens, and for tokens issued more than
    ``CLOCK_SKEW`` seconds in the future. Never raises.
    """
    try:
        parts = token.split(".")
        if len(parts) != 3 or not _DECIMAL.fullmatch(parts[1]):
            return None
        email_bytes = _unb64(parts[0])
        mac = _unb64(parts[2])
        if email_bytes is None or mac is None or len(mac) != _CONFIRM_MAC_BYTES:
            return None
        email = email_bytes.decode("utf-8")
        issued_at = int(parts[1])
        expected = _mac(secret, _CONFIRM_PURPOSE, _confirm_payload(email, issued_at), len(mac))
        if not hmac.compare_digest(mac, expected):
            return None
        if not (now - max_age <= issued_at <= now + CLOCK_SKEW):
            return None
        return email
    except Exception:  # a verifier on a public endpoint must never raise
        return None


def unsubscribe_link(base_url: str, secret: bytes, subscriber_id: int) -> str:
    """``[digest] unsubscribe_url`` + the subscriber's token: the per-recipient one-click URL."""
    return base_url + sign_unsubscribe(secret, subscriber_id)


def _prefs_payload(subscriber_id: int, issued_at: int) -> bytes:
    return f"{subscriber_id}.{issued_at}".encode("ascii")


def sign_preferences(secret: bytes, subscriber_id: int, issued_at: int) -> str:
    """A URL-safe token opening ``subscriber_id``'s preferences page, issued at ``issued_at``.

    Its own purpose: an unsubscribe token (which mail providers see in List-Unsubscribe)
    can never open the preferences page, and a preferences token never unsubscribes by POST
    to /u/. Expires (see :data:`PREFERENCES_MAX_AGE`), unlike the unsubscribe token.
    """
    if subscriber_id < 0 or issued_at < 0:
        raise ValueError("subscriber id and issued_at must not be negative")
    mac = _mac(secret, _PREFS_PURPOSE, _prefs_payload(subscriber_id, issued_at), _CONFIRM_MAC_BYTES)
    return f"{subscriber_id}.{issued_at}.{_b64(mac)}"


def verify_preferences(
    secret: bytes, token: str, now: int, max_age: int = PREFERENCES_MAX_AGE
) -> int | None:
    """The subscriber id in ``token`` if it is authentic and not older than ``max_age``.

    None for forged, altered, garbage or expired tokens (and for ones from the future beyond
    :data:`CLOCK_SKEW`). Never raises.
    """
    try:
        parts = token.split(".")
        if len(parts) != 3 or not all(_DECIMAL.fullmatch(p) for p in parts[:2]):
            return None
        mac = _unb64(parts[2])
        if mac is None or len(mac) != _CONFIRM_MAC_BYTES:
            return None
        ident, issued_at = int(parts[0]), int(parts[1])
        expected = _mac(secret, _PREFS_PURPOSE, _prefs_payload(ident, issued_at), len(mac))
        if not hmac.compare_digest(mac, expected):
            return None
        if not (now - max_age <= issued_at <= now + CLOCK_SKEW):
            return None
        return ident
    except Exception:  # a verifier on a public endpoint must never raise
        return None


def serve_base(unsubscribe_url: str) -> str | None:
    """Where ``serve`` is public, ending in "/": the parent of ``[digest] unsubscribe_url``'s
    /u/ endpoint (None when that is not an http(s) URL with a host).

    Links are built from configuration only, never from a request's Host header.
    """
    unsub = unsubscribe_url.strip()
    if not unsub.startswith(("https://", "http://")):
        return None
    parts = urlsplit(unsub)
    if not parts.netloc:
        return None
    path = parts.path.rstrip("/")
    if path.endswith("/u"):
        path = path[: -len("/u")]
    return f"{parts.scheme}://{parts.netloc}{path}/"


#: serve's preferences page, under :func:`serve_base`.
PREFERENCES_PATH = "preferences/"


def preferences_link(
    unsubscribe_url: str, secret: bytes, subscriber_id: int, issued_at: int
) -> str:
    """The subscriber's signed preferences URL beside ``[digest] unsubscribe_url``'s /u/
    (empty when serve's public URL is not configured)."""
    base = serve_base(unsubscribe_url)
    if base is None:
        return ""
    return base + PREFERENCES_PATH + sign_preferences(secret, subscriber_id, issued_at)
