"""Mail header lines from data: the one place fieldfeed turns text into header bytes.

Every header fieldfeed writes (digests and confirmation mail alike) is produced here as bytes,
never by handing data to the email package's header folding: before the CVE-2024-6923 fix
(Python 3.11.10 / 3.12.5) that folder decoded an RFC 2047 encoded-word found in a display name
or a Subject and wrote its payload back out, so ``=?utf-8?b?...?=`` holding CR/LF became real
header lines (a name from the public form could add a ``Bcc:`` or replace the body). Here
encoded-word-looking input is always re-encoded as a whole, so a reader sees the literal
``=?...?=`` characters, on every Python version.

Text values are normalised, not refused: control characters and line separators (CR, LF,
U+2028, U+0085, ...) become a space, so one odd name or title cannot make every later digest
fail. :func:`check_header_block` then checks the serialised block itself: exactly the
expected field names, ASCII only, no overlong line.

Pure: no clock, no environment.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence

import idna

from fieldfeed.errors import FieldfeedError
from fieldfeed.names import header_text

#: Soft limit for a header line (RFC 5322 2.1.1 says 78) and the hard one (998).
LINE = 78
HARD_LINE = 998
#: Display names are cut to this many UTF-8 bytes, so one encoded-word line stays < 998.
NAME_BYTES = 600
_EW_BYTES = 45  # 45 bytes -> 60 base64 characters + 12 of framing = 72 (RFC 2047: <= 75)

# An RFC 5322 dot-atom address, ASCII only (no SMTPUTF8).
_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
# A display name that needs neither quoting nor encoding: atoms separated by single spaces.
# '=' and '?' are left out so a name that looks like an RFC 2047 encoded-word never goes bare.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/^_`{|}~-]+)*")
_FIELD_NAME = re.compile(rb"[!-9;-~]+")  # RFC 5322 3.6.8: printable ASCII except ':'


class MessageError(FieldfeedError):
    """A header value cannot be put in a message (unusable address, URL or header block)."""


def display_name(value: str) -> str:
    """:func:`header_text`, cut to :data:`NAME_BYTES` UTF-8 bytes (between characters)."""
    text = header_text(value)
    data = text.encode("utf-8")
    if len(data) <= NAME_BYTES:
        return text
    return data[:NAME_BYTES].decode("utf-8", "ignore").rstrip()


def ascii_address(address: str) -> str:
    """``address`` with its domain in IDNA A-labels (``user@xn--bcher-kva.example``).

    Raises MessageError for a non-ASCII local part (that needs SMTPUTF8, which fieldfeed does
    not use), a domain IDNA refuses, or anything that is not a plain dot-atom address.
    """
    local, at, domain = address.rpartition("@")
    if not at or not local.isascii():
        raise MessageError(
            f"cannot address {address!r}: not a plain ASCII address (non-ASCII before the @ "
            "needs SMTPUTF8, which fieldfeed does not use)"
        )
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise MessageError(f"cannot address {address!r}: bad domain ({exc})") from None
    result = f"{local}@{domain}"
    if not _ADDRESS.fullmatch(result):
        raise MessageError(f"cannot address {address!r}: not a plain ASCII address")
    return result


def encoded_words(text: str) -> list[str]:
    """``text`` as base64 ``=?utf-8?b?...?=`` words of at most 72 characters, split between
    characters (RFC 2047: the whitespace between adjacent encoded-words is dropped)."""
    words: list[str] = []
    chunk = b""
    for ch in text:
        data = ch.encode("utf-8")
        if chunk and len(chunk) + len(data) > _EW_BYTES:
            words.append(_word(chunk))
            chunk = b""
        chunk += data
    words.append(_word(chunk))
    return words


def _word(data: bytes) -> str:
    return "=?utf-8?b?" + base64.b64encode(data).decode("ascii") + "?="


def unstructured(field: str, value: str) -> bytes:
    """``Field: value\\r\\n`` for free text (Subject): plain ASCII folded at spaces, or, when
    the text has non-ASCII, ``=?`` or a word too long to fold, encoded-words throughout."""
    text = header_text(value)
    head = f"{field}:"
    words = text.split(" ")
    if text.isascii() and "=?" not in text and all(len(w) < LINE - len(head) - 2 for w in words):
        lines: list[str] = []
        line = head
        for word in words:
            # Fold before a word, never right after "Field:" (parsers keep that space).
            if line != head and len(line) + 1 + len(word) > LINE - 2:
                lines.append(line)
                line = ""
            line += " " + word
        lines.append(line)
        return ("\r\n".join(lines) + "\r\n").encode("ascii")
    return (f"{head} " + "\r\n ".join(encoded_words(text)) + "\r\n").encode("ascii")


def phrase(value: str) -> str:
    """A display name as header text: atoms, a quoted-string, or one encoded-word.

    One encoded-word even past RFC 2047's 75 characters (bounded by :data:`NAME_BYTES`):
    readers drop the space between adjacent encoded-words (RFC 2047 6.2) while Python's
    address parser keeps it, so a name split over several words would read differently in
    different places. A name looking like an encoded-word is encoded, never left bare.
    """
    name = display_name(value)
    if not name or _PLAIN_NAME.fullmatch(name):
        return name
    if name.isascii() and "=?" not in name:  # printable: header_text removed controls
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return _word(name.encode("utf-8"))


def mailbox(field: str, name: str, address: str) -> bytes:
    """``Field: name <address>\\r\\n`` (From, To); the address gets IDNA A-labels."""
    return angle_field(field, name, ascii_address(address))


def angle_field(field: str, name: str, value: str) -> bytes:
    """``Field: phrase <value>\\r\\n`` (a mailbox, List-Id); ``value`` must be plain ASCII.

    With no name: just ``Field: value``. The ``<value>`` moves to a line of its own when the
    line would pass 78 characters.
    """
    if not value.isascii() or not value.isprintable() or any(c in value for c in "<> "):
        raise MessageError(f"{field}: unusable value {value!r}")
    text = phrase(name)
    if not text:
        return f"{field}: {value}\r\n".encode("ascii")
    line = f"{field}: {text} <{value}>"
    if len(line) > LINE:
        line = f"{field}: {text}\r\n <{value}>"
    return (line + "\r\n").encode("ascii")


def field_line(field: str, value: str) -> bytes:
    """``Field: value\\r\\n`` for a value fieldfeed formatted itself (Date, Message-ID,
    List-Unsubscribe): printable ASCII, may be pre-folded with ``\\r\\n `` and holds no
    encoded-word (RFC 8058 one-click breaks when List-Unsubscribe is encoded)."""
    for part in value.split("\r\n "):
        if not part.isascii() or not part.isprintable() or "=?" in part:
            raise MessageError(f"{field}: unusable header value {value!r}")
    return f"{field}: {value}\r\n".encode("ascii")


def check_header_block(raw: bytes, expected: Sequence[str]) -> None:
    """Raise MessageError unless ``raw`` starts with a header block of exactly the fields
    ``expected`` (in order, case-insensitive), ASCII, CRLF, every line within 998 bytes.

    The last line of defence, on the serialised bytes: an injected line shows up as an
    unexpected field (or an early end of the headers), whatever produced it.
    """
    head, sep, _ = raw.partition(b"\r\n\r\n")
    if not sep:
        raise MessageError("message has no end of headers")
    names: list[str] = []
    for line in head.split(b"\r\n"):
        if not line.isascii() or b"\r" in line or b"\n" in line or len(line) > HARD_LINE:
            raise MessageError(f"malformed header line {line[:80]!r}")
        if line[:1] in (b" ", b"\t") and names:
            continue
        name, colon, _ = line.partition(b":")
        if not colon or not _FIELD_NAME.fullmatch(name):
            raise MessageError(f"malformed header line {line[:80]!r}")
        names.append(name.decode("ascii").lower())
    if names != [e.lower() for e in expected]:
        raise MessageError(f"unexpected header fields {names!r}, expected {list(expected)!r}")
