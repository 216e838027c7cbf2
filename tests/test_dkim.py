"""DKIM signing with cryptography on dkimpy's canonicalisation: dkimpy verifies what we send.

Digests go through the real sender to aiosmtpd on loopback and the bytes the server received
are verified with ``dkim.verify`` against the test key published by a dnsfunc. The fast
canonicalisation paths are checked byte-for-byte against dkimpy's own functions.
"""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from dkim.canonicalization import CanonicalizationPolicy
from golden_emails import GOLDEN_NOW, golden_settings, golden_subscriber, make_post
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smtp_server import SMTPTestServer
from test_sending import make_site, send

from fieldfeed.config import DkimSettings, load_settings
from fieldfeed.errors import ConfigError
from fieldfeed.mail import dkim as signing
from fieldfeed.mail.message import MessageTemplate, default_list_id
from fieldfeed.mail.render import render_issue
from fieldfeed.mail.templating import template_env
from fieldfeed.model import Issue

DOMAIN = "notes.example.org"
SELECTOR = "ff2026"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ED_KEY = ed25519.Ed25519PrivateKey.generate()
RELAXED = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")


def write_keys(folder: Path) -> tuple[Path, Path]:
    pkcs8 = serialization.PrivateFormat.PKCS8
    none = serialization.NoEncryption()
    pem = serialization.Encoding.PEM
    rsa_file, ed_file = folder / "dkim-rsa.pem", folder / "dkim-ed25519.pem"
    rsa_file.write_bytes(RSA_KEY.private_bytes(pem, pkcs8, none))
    ed_file.write_bytes(ED_KEY.private_bytes(pem, pkcs8, none))
    return rsa_file, ed_file


def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
    """The TXT records an operator publishes (docs/operations.md), one per key type."""
    if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode():
        der = RSA_KEY.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)
    if name == f"{SELECTOR}-ed25519._domainkey.{DOMAIN}.".encode():
        raw = ED_KEY.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return b"v=DKIM1; k=ed25519; p=" + base64.b64encode(raw)
    raise AssertionError(f"unexpected DNS query {name!r}")


def dkim_block(rsa_file: Path, ed_file: Path | None = None, selector: str = SELECTOR) -> str:
    ed = f'ed25519_key_file = "{ed_file}"\n' if ed_file else ""
    return (
        f'\n[delivery.dkim]\ndomain = "{DOMAIN}"\nselector = "{selector}"\n'
        f'key_file = "{rsa_file}"\n{ed}'
    )


def signatures(raw: bytes) -> list[bytes]:
    head = raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ")
    return [line for line in head.split(b"\r\n") if line.startswith(b"DKIM-Signature:")]


def test_sent_digests_verify_with_dkimpy_and_tampering_breaks_them(tmp_path: Path) -> None:
    rsa_file, _ = write_keys(tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    with SMTPTestServer(lifetime=60) as smtp:
        settings = make_site(site, port=smtp.port, subscribers=6, extra=dkim_block(rsa_file))
        report = send(settings)
        assert (report.sent, report.failed) == (6, ())
        received = smtp.received()
    assert len(received) == 6
    for message in received:
        raw = message.raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        assert len(signatures(raw)) == 1
        sig = signatures(raw)[0].replace(b" ", b"")
        assert b"a=rsa-sha256" in sig and b"c=relaxed/relaxed" in sig
        assert (
            b"h=from:from:to:subject:date:message-id:list-unsubscribe:list-unsubscribe-post:"
            b"list-id:mime-version:content-type;"
        ) in sig
        assert dkim.verify(raw, dnsfunc=dnsfunc), message.rcpt_tos
        tampered = [
            raw.replace(b"Subject: Test Notes", b"Subject: Test Notez", 1),
            raw.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"X-A: b", 1),
            raw.replace(b"enough words", b"enough wordz", 1),
            raw + b"one more line\r\n",
            b"From: Mallory <m@evil.example>\r\n" + raw,
        ]
        for bad in tampered:
            assert bad != raw
            assert not dkim.verify(bad, dnsfunc=dnsfunc)
    # Relaxed canonicalisation: a relay refolding headers and adding trailing blanks is fine.
    raw = received[0].raw
    relayed = raw.replace(b"\r\nTo: ", b"\r\nTo:\r\n\t ", 1).replace(b"\r\n\r\n", b"  \r\n\r\n")
    assert dkim.verify(relayed, dnsfunc=dnsfunc)


def test_ed25519_adds_a_second_signature_and_both_verify(tmp_path: Path) -> None:
    rsa_file, ed_file = write_keys(tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    with SMTPTestServer(lifetime=60) as smtp:
        settings = make_site(site, port=smtp.port, subscribers=2, extra=dkim_block(rsa_file))
        settings = dataclasses.replace(
            settings,
            delivery=dataclasses.replace(
                settings.delivery,
                dkim=dataclasses.replace(settings.delivery.dkim, ed25519_key_file=str(ed_file)),
            ),
        )
        assert send(settings).sent == 2
        received = smtp.received()
    for message in received:
        raw = message.raw
        sigs = [s.replace(b" ", b"") for s in signatures(raw)]
        assert [b"a=ed25519-sha256" in s for s in sigs] == [True, False]
        assert f"s={SELECTOR}-ed25519;".encode() in sigs[0]

        assert dkim.DKIM(raw).verify(idx=0, dnsfunc=dnsfunc)
        assert dkim.DKIM(raw).verify(idx=1, dnsfunc=dnsfunc)
        bad = raw.replace(b"Subject: Test Notes", b"Subject: Test Notez", 1)
        assert not dkim.DKIM(bad).verify(idx=0, dnsfunc=dnsfunc)
        assert not dkim.DKIM(bad).verify(idx=1, dnsfunc=dnsfunc)


_SETTINGS = golden_settings()
_ENV = template_env(_SETTINGS)


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> signing.Signer:
    rsa_file, ed_file = write_keys(tmp_path_factory.mktemp("keys"))
    return signing.load_key(DkimSettings(DOMAIN, SELECTOR, str(rsa_file), str(ed_file)))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(name=st.text(max_size=200), title=st.text(min_size=1, max_size=200))
def test_any_name_and_title_still_verify(signer: signing.Signer, name: str, title: str) -> None:
    post = make_post("p", title, (), "summary", 100, GOLDEN_NOW)
    issue = Issue(number=5, cutoff=GOLDEN_NOW, created=GOLDEN_NOW, posts=(post,))
    rendered = render_issue(_SETTINGS, _ENV, issue, issue.posts)
    template = MessageTemplate(_SETTINGS, rendered, issue, list_id=default_list_id(_SETTINGS))
    sub = dataclasses.replace(golden_subscriber(), name=name, tags=())
    raw = signer.sign(template.build(sub, "https://fieldnotes.example.org/u/42.abc"))
    assert dkim.DKIM(raw).verify(idx=1, dnsfunc=dnsfunc)


_WSP = st.lists(
    st.sampled_from([b"a", b"b", b" ", b"  ", b"\t", b"\r\n", b"\r", b"\n", b"=", b"\xc3"]),
    max_size=60,
).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(body=_WSP)
def test_body_canonicalisation_is_dkimpys(body: bytes) -> None:
    assert signing.canonical_body(body) == RELAXED.canonicalize_body(body)


@settings(max_examples=200, deadline=None)
@given(body=_WSP, crlf=st.booleans())
def test_message_split_is_dkimpys(body: bytes, crlf: bool) -> None:
    head = b"From: a@b.c\r\nSubject: x\r\n y\r\nTo: d@e.f\r\n\r\n"
    message = head + body
    if not crlf:
        message = message.replace(b"\r\n", b"\n")
    assert signing.split_message(message) == dkim.rfc822_parse(message)


def test_unusable_keys_are_config_errors(tmp_path: Path) -> None:
    rsa_file, ed_file = write_keys(tmp_path)
    with pytest.raises(ConfigError, match=r"ed25519_key_file .*not an Ed25519 key"):
        signing.load_key(DkimSettings(DOMAIN, SELECTOR, str(rsa_file), str(rsa_file)))
    with pytest.raises(ConfigError, match=r"key_file .*not an RSA key"):
        signing.load_key(DkimSettings(DOMAIN, SELECTOR, str(ed_file)))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match="not an unencrypted PEM private key"):
        signing.load_key(DkimSettings(DOMAIN, SELECTOR, str(garbage)))


def test_ed25519_key_alone_is_a_config_problem(tmp_path: Path) -> None:
    (tmp_path / "fieldfeed.toml").write_text(
        '[site]\ntitle = "T"\nurl = "https://t.example.org/"\n'
        '[delivery.dkim]\ned25519_key_file = "k.pem"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="ed25519_key_file is an additional signature"):
        load_settings(tmp_path)
