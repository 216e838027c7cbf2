"""DKIM-sign finished messages with dkimpy (optional; ``[delivery.dkim]``).

The signature covers From, To, Subject, Date, Message-ID, List-Unsubscribe,
List-Unsubscribe-Post and List-Id (RFC 8058 section 4 requires both List-Unsubscribe fields
for one-click to be trusted), plus the MIME headers. Relaxed/relaxed canonicalisation survives
relays that refold headers or touch whitespace.
"""

from __future__ import annotations

from pathlib import Path

import dkim as dkimpy

from fieldfeed.config import DkimSettings
from fieldfeed.errors import ConfigError

#: Header fields in ``h=``. From is listed twice ("over-signing"): a From header added in
#: transit then breaks the signature instead of being shown to the reader.
SIGNED_HEADERS = (
    b"From",
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"List-Id",
    b"MIME-Version",
    b"Content-Type",
)


def load_key(dkim: DkimSettings) -> bytes:
    """The PEM private key named by ``dkim.key_file``. ConfigError (path only) if unreadable."""
    path = Path(dkim.key_file).expanduser()
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"[delivery.dkim] key_file {str(path)!r}: cannot read it ({exc.strerror})"
        ) from None
    if b"PRIVATE KEY" not in key:
        raise ConfigError(f"[delivery.dkim] key_file {str(path)!r}: not a PEM private key")
    return key


def sign(message: bytes, dkim: DkimSettings, *, key: bytes | None = None) -> bytes:
    """``message`` with a DKIM-Signature header prepended.

    ``key`` is the PEM private key; when omitted it is read from ``dkim.key_file`` (callers
    signing many messages read it once with :func:`load_key`). Raises ConfigError when the key
    cannot be used; the message never contains key material.
    """
    pem = key if key is not None else load_key(dkim)
    try:
        signature = dkimpy.sign(
            message,
            dkim.selector.encode("ascii"),
            dkim.domain.encode("ascii"),
            pem,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=list(SIGNED_HEADERS),
            linesep=b"\r\n",
        )
    except dkimpy.DKIMException as exc:
        raise ConfigError(f"[delivery.dkim] cannot sign with the configured key: {exc}") from None
    return bytes(signature) + message
