"""DKIM-sign finished messages (optional; ``[delivery.dkim]``).

The signature covers From, To, Subject, Date, Message-ID, List-Unsubscribe,
List-Unsubscribe-Post and List-Id (RFC 8058 section 4 requires both List-Unsubscribe fields
for one-click to be trusted), plus the MIME headers. Relaxed/relaxed canonicalisation survives
relays that refold headers or touch whitespace.

Why not ``dkim.sign``: dkimpy's RSA is pure Python (about 16 ms a message, capping signed
sending at a sixth of unsigned) and it re-parses the PEM key on every call. So header
parsing, selection, canonicalisation, hashing and folding are dkimpy's own functions (the
signatures are what dkimpy would produce and verify); the relaxed body canonicalisation is
an equal but faster :func:`canonical_body`; and only the private-key step runs in
``cryptography`` (OpenSSL) with keys parsed once per :class:`Signer`. An optional Ed25519
key (RFC 8463) adds a second signature; receivers that do not know ed25519 ignore it and use
the RSA one.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import dkim as dkimpy
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa, utils
from dkim.canonicalization import (
    CanonicalizationPolicy,
    correct_empty_body,
    strip_trailing_lines,
    strip_trailing_whitespace,
)

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

#: Appended to ``selector`` for the Ed25519 signature's ``s=`` (docs/operations.md).
ED25519_SELECTOR_SUFFIX = b"-ed25519"

_INCLUDE = tuple(h.lower() for h in SIGNED_HEADERS)
_POLICY = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
_NAME = b"DKIM-Signature"
_SHA256 = hashes.SHA256()


def _read_key(setting: str, value: str) -> bytes:
    path = Path(value).expanduser()
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"[delivery.dkim] {setting} {str(path)!r}: cannot read it ({exc.strerror})"
        ) from None
    if b"PRIVATE KEY" not in key:
        raise ConfigError(f"[delivery.dkim] {setting} {str(path)!r}: not a PEM private key")
    return key


def _parse(setting: str, value: str, pem: bytes) -> object:
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(
            f"[delivery.dkim] {setting} {value!r}: not an unencrypted PEM private key"
        ) from None


def split_message(message: bytes) -> tuple[list[list[bytes]], bytes]:
    """dkimpy's ``rfc822_parse`` result, parsing only the header block when it can.

    With CRLF line endings throughout (what MessageTemplate builds) the body dkimpy would
    return is the bytes after the first empty line, so only the header block (a few hundred
    bytes) goes through dkimpy's line splitting instead of the whole 56 KB message.
    """
    end = message.find(b"\r\n\r\n")
    if end < 0 or message.count(b"\n") != message.count(b"\r\n"):
        return dkimpy.rfc822_parse(message)  # type: ignore[no-any-return]
    headers, _ = dkimpy.rfc822_parse(message[: end + 4])
    return headers, message[end + 4 :]


def canonical_body(body: bytes) -> bytes:
    """Relaxed body canonicalisation (RFC 6376 3.4.4), byte-for-byte dkimpy's.

    dkimpy substitutes every run of one or more spaces, so a 56 KB digest makes thousands
    of one-space-for-one-space replacements (most of its signing time). The same two steps
    here touch only what changes: whitespace before a line end (dkimpy's own function, and
    only when a substring scan finds some), then tabs and runs of two or more spaces, with
    C-speed ``bytes.replace``.
    """
    if b" \r\n" in body or b"\t\r\n" in body:
        body = strip_trailing_whitespace(body)
    if b"\t" in body:
        body = body.replace(b"\t", b" ")
    while b"  " in body:  # halves every run of spaces; runs in a digest are short
        body = body.replace(b"  ", b" ")
    return correct_empty_body(strip_trailing_lines(body))  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Signer:
    """Parsed keys for one send: build once (:meth:`from_settings`), :meth:`sign` per message."""

    domain: bytes
    selector: bytes
    rsa_key: rsa.RSAPrivateKey
    ed25519_key: ed25519.Ed25519PrivateKey | None = None

    @classmethod
    def from_settings(cls, dkim: DkimSettings) -> Signer:
        """Read and parse the configured keys. ConfigError (path only) if unusable."""
        rsa_key = _parse("key_file", dkim.key_file, _read_key("key_file", dkim.key_file))
        if not isinstance(rsa_key, rsa.RSAPrivateKey):
            raise ConfigError(f"[delivery.dkim] key_file {dkim.key_file!r}: not an RSA key")
        ed_key: ed25519.Ed25519PrivateKey | None = None
        if dkim.ed25519_key_file:
            pem = _read_key("ed25519_key_file", dkim.ed25519_key_file)
            parsed = _parse("ed25519_key_file", dkim.ed25519_key_file, pem)
            if not isinstance(parsed, ed25519.Ed25519PrivateKey):
                raise ConfigError(
                    f"[delivery.dkim] ed25519_key_file {dkim.ed25519_key_file!r}: "
                    "not an Ed25519 key"
                )
            ed_key = parsed
        return cls(dkim.domain.encode("ascii"), dkim.selector.encode("ascii"), rsa_key, ed_key)

    @property
    def ed25519_selector(self) -> bytes:
        """``<selector>-ed25519``: one DNS record holds one key type, so Ed25519 needs its own."""
        return self.selector + ED25519_SELECTOR_SUFFIX

    def sign(self, message: bytes) -> bytes:
        """``message`` (CRLF line endings) with its DKIM-Signature header(s) prepended.

        The Ed25519 signature, when configured, comes first; neither signature covers the
        other (DKIM-Signature is not in ``h=``), so each verifies on its own.
        """
        headers, body = split_message(message)
        bodyhash = base64.b64encode(hashlib.sha256(canonical_body(body)).digest())
        cheaders = _POLICY.canonicalize_headers(headers)
        now = str(int(time.time())).encode("ascii")
        out = self._header(b"rsa-sha256", cheaders, bodyhash, now)
        if self.ed25519_key is not None:
            out = self._header(b"ed25519-sha256", cheaders, bodyhash, now) + out
        return out + message

    def _header(
        self,
        algorithm: bytes,
        cheaders: list[tuple[bytes, bytes]],
        bodyhash: bytes,
        now: bytes,
    ) -> bytes:
        # The same tags, order and folding as dkimpy's DKIM.sign and DomainSigner.gen_header.
        fields = [
            (b"v", b"1"),
            (b"a", algorithm),
            (b"c", b"relaxed/relaxed"),
            (b"d", self.domain),
            (b"i", b"@" + self.domain),
            (b"q", b"dns/txt"),
            (b"s", self.selector if algorithm == b"rsa-sha256" else self.ed25519_selector),
            (b"t", now),
            (b"h", b" : ".join(_INCLUDE)),
            (b"bh", bodyhash),
            (b"b", b"0" * 60),  # forces b= onto its own line, as dkimpy does
        ]
        value = b"; ".join(b"=".join(x) for x in fields)
        value = dkimpy.fold(value, namelen=len(_NAME), linesep=b"\r\n")
        value = dkimpy.RE_BTAG.sub(b"\\1", value)
        hasher = hashlib.sha256()
        dkimpy.hash_headers(hasher, _POLICY, cheaders, _INCLUDE, (_NAME, b" " + value), {})
        digest = hasher.digest()
        if algorithm == b"rsa-sha256":
            signature = self.rsa_key.sign(digest, padding.PKCS1v15(), utils.Prehashed(_SHA256))
        else:
            assert self.ed25519_key is not None
            signature = self.ed25519_key.sign(digest)  # RFC 8463: Ed25519 over the SHA-256
        fields[-1] = (b"b", base64.b64encode(signature))
        value = b"; ".join(b"=".join(x) for x in fields) + b"\r\n"
        folded: bytes = dkimpy.fold(value, namelen=len(_NAME), linesep=b"\r\n")
        return _NAME + b": " + folded


def load_key(dkim: DkimSettings) -> Signer:
    """The parsed signing keys of ``dkim`` (kept by callers that sign many messages)."""
    return Signer.from_settings(dkim)


def sign(message: bytes, dkim: DkimSettings, *, key: Signer | None = None) -> bytes:
    """``message`` with DKIM-Signature header(s) prepended.

    ``key`` is a :class:`Signer` from :func:`load_key`; when omitted the keys are read from
    ``dkim``. Raises ConfigError when a key cannot be used; the message never contains key
    material.
    """
    signer = key if key is not None else Signer.from_settings(dkim)
    return signer.sign(message)
