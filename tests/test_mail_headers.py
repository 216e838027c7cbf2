"""Header injection through RFC 2047 encoded-words (issue 7, item 1), against the real parts.

CPython before the CVE-2024-6923 fix (3.11.7 here) decoded an encoded-word in a display name
or a Subject while folding, so ``=?utf-8?b?<base64 of CRLF + headers>?=`` became real header
lines. Every header fieldfeed writes now comes from fieldfeed.mail.headers; these tests check the
bytes a real SMTP server received, parsed with the default policy.
"""

from __future__ import annotations

import base64
import dataclasses
import email.policy
from datetime import timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import httpx
import pytest
from golden_emails import GOLDEN_NOW, golden_settings, golden_subscriber, make_post
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smtp_server import SMTPTestServer
from test_sending import ENV, NOW, make_site, send
from test_web import confirm_link, running_server

from fieldfeed import pipeline
from fieldfeed.mail.headers import (
    MessageError,
    angle_field,
    check_header_block,
    display_name,
    mailbox,
    unstructured,
)
from fieldfeed.mail.message import DIGEST_FIELDS, MessageTemplate, default_list_id
from fieldfeed.mail.render import render_issue
from fieldfeed.mail.templating import template_env
from fieldfeed.model import Issue
from fieldfeed.names import header_text
from fieldfeed.store import open_store
from fieldfeed.store import subscribers as subs
from fieldfeed.web.app import create_app
from fieldfeed.web.mail import (
    CONFIRMATION_FIELDS,
    WELCOME_FIELDS,
    build_confirmation,
    confirmation_bytes,
    serve_mail_bytes,
)
from fieldfeed.web.services import WebServices
from fieldfeed.web.welcome import WelcomeLinks, build_welcome

PARSER = BytesParser(policy=email.policy.default)
PAYLOAD = (
    "x\r\nSubject: Your account is locked\r\nX-Injected: yes\r\n\r\nReset it at http://evil.example"
)
#: The attack from the report: plain ASCII, so it passed every CR/LF check.
EVIL = "=?utf-8?b?" + base64.b64encode(PAYLOAD.encode()).decode() + "?="


def field_names(raw: bytes) -> list[str]:
    return list(PARSER.parsebytes(raw).keys())


def assert_not_injected(raw: bytes, expected: tuple[str, ...]) -> EmailMessage:
    msg = PARSER.parsebytes(raw)
    assert list(msg.keys()) == list(expected)
    assert b"X-Injected" not in raw and b"Your account is locked" not in raw
    for part in msg.walk():
        if not part.is_multipart():
            assert "evil.example" not in str(part.get_content())
    return msg


# --- the confirmation mail: a POST to a running serve, received by a real SMTP server -----


def test_confirmation_mail_from_an_encoded_word_name_over_http_and_smtp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    with SMTPTestServer(lifetime=60) as smtp:
        settings = make_site(tmp_path, port=smtp.port)
        app = create_app(settings, WebServices.from_settings(settings))
        with running_server(app) as base, httpx.Client(base_url=base, timeout=10) as http:
            for n, name in enumerate((EVIL, f"Zoë {EVIL}", "Ada\u2028Lovelace\x85\x0b")):
                r = http.post("/subscribe", data={"email": f"victim{n}@example.org", "name": name})
                assert r.status_code == 200
                assert smtp.wait_for(n + 1, timeout=10)
        for n, received in enumerate(smtp.received()):
            assert received.rcpt_tos == (f"victim{n}@example.org",)
            msg = assert_not_injected(received.raw, CONFIRMATION_FIELDS)
            assert msg["Subject"] == "Confirm your subscription to Test Notes"
            assert "/confirm/" in confirm_link(msg)
        shown = [PARSER.parsebytes(m.raw)["To"].addresses[0].display_name for m in smtp.received()]
        # The reader sees the literal encoded-word text, and a normalised name.
        assert shown == [EVIL, f"Zoë {EVIL}", "Ada Lovelace"]


# --- a digest: a real build and send, an encoded-word post title and subscriber name --------


def test_digest_with_encoded_word_title_and_name_over_smtp(tmp_path: Path) -> None:
    with SMTPTestServer(lifetime=60) as smtp:
        settings = make_site(tmp_path, port=smtp.port, posts=[])
        post = settings.root / "content" / "posts" / "evil.md"
        # YAML double quotes: \u2028 and \x85 arrive in the title as those characters.
        post.write_text(
            f'---\ntitle: "{EVIL} and\\u2028more\\x85"\ndate: 2026-11-20T10:00:00+01:00\n---\n\n'
            "A body with enough words to summarise.\n",
            encoding="utf-8",
        )
        engine = open_store(settings.database_url)
        subs.upsert(engine, "ada@example.org", name=EVIL, now=NOW)
        subs.upsert(engine, "bob@example.org", name="Bob\u2028Smith", now=NOW)
        pipeline.build(settings, NOW)
        report = send(settings)
        assert (report.sent, report.failed) == (2, ())
        got = {m.rcpt_tos[0]: m for m in smtp.received()}
    assert sorted(got) == ["ada@example.org", "bob@example.org"]
    for received in got.values():
        msg = assert_not_injected(received.raw, DIGEST_FIELDS)
        assert msg["Subject"] == f"Test Notes #1: {EVIL} and more"
    assert PARSER.parsebytes(got["ada@example.org"].raw)["To"].addresses[0].display_name == EVIL
    bob = PARSER.parsebytes(got["bob@example.org"].raw)["To"].addresses[0]
    assert bob.display_name == "Bob Smith"


# --- arbitrary Unicode through message building ---------------------------------------------

_SETTINGS = golden_settings()
_ENV = template_env(_SETTINGS)
_TAG = st.text(min_size=1, max_size=30).filter(lambda t: t.strip() != "")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.text(max_size=250),
    title=st.text(min_size=1, max_size=300),
    tags=st.lists(_TAG, max_size=4),
)
def test_any_name_title_and_tags_give_exactly_the_expected_digest_headers(
    name: str, title: str, tags: list[str]
) -> None:
    post = make_post("p", title, tuple(tags), "summary", 100, GOLDEN_NOW)
    issue = Issue(number=5, cutoff=GOLDEN_NOW, created=GOLDEN_NOW, posts=(post,))
    rendered = render_issue(_SETTINGS, _ENV, issue, issue.posts)
    template = MessageTemplate(_SETTINGS, rendered, issue, list_id=default_list_id(_SETTINGS))
    sub = dataclasses.replace(golden_subscriber(), name=name, tags=())
    raw = template.build(sub, "https://fieldnotes.example.org/u/42.abc")
    assert raw.isascii()
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    msg = PARSER.parsebytes(raw)
    assert list(msg.keys()) == list(DIGEST_FIELDS)
    assert not msg.defects and not msg["Subject"].defects and not msg["To"].defects
    assert msg["Subject"] == header_text(rendered.subject)
    to = msg["To"].addresses
    assert len(to) == 1 and to[0].addr_spec == sub.email
    assert to[0].display_name == display_name(name)


@settings(max_examples=60, deadline=None)
@given(name=st.text(max_size=250))
def test_any_name_gives_exactly_the_expected_confirmation_headers(name: str) -> None:
    sub = dataclasses.replace(golden_subscriber(), name=name)
    message = build_confirmation(_SETTINGS, sub, "https://e.org/confirm/abc", 48, GOLDEN_NOW)
    raw = confirmation_bytes(message)
    msg = PARSER.parsebytes(raw)
    assert list(msg.keys()) == list(CONFIRMATION_FIELDS)
    assert msg["To"].addresses[0].display_name == display_name(name)
    assert msg["To"].addresses[0].addr_spec == sub.email


@settings(max_examples=60, deadline=None)
@given(name=st.text(max_size=250), title=st.text(max_size=120), topic=st.text(max_size=60))
def test_any_name_title_and_topic_give_exactly_the_expected_welcome_headers(
    name: str, title: str, topic: str
) -> None:
    sub = dataclasses.replace(golden_subscriber(), name=name)
    site = dataclasses.replace(_SETTINGS.site, title=title or "x")
    settings_ = dataclasses.replace(_SETTINGS, site=site)
    links = WelcomeLinks("https://e.org/u/1.abc", "https://e.org/preferences/1.2.abc", None, None)
    message = build_welcome(settings_, sub, links, (topic,), GOLDEN_NOW)
    raw = serve_mail_bytes(message)
    msg = PARSER.parsebytes(raw)
    assert list(msg.keys()) == list(WELCOME_FIELDS)
    assert msg["To"].addresses[0].display_name == display_name(name)
    assert msg["To"].addresses[0].addr_spec == sub.email
    assert msg["List-Unsubscribe"] == "<https://e.org/u/1.abc>"


@given(st.text())
def test_header_text_is_idempotent_and_has_no_breaks(text: str) -> None:
    once = header_text(text)
    assert header_text(once) == once
    assert once == once.strip() and "  " not in once
    assert not any(c in once for c in "\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def test_a_long_non_ascii_name_is_cut_to_fit_one_line() -> None:
    post = make_post("p", "Hello", (), "s", 10, GOLDEN_NOW - timedelta(days=1))
    issue = Issue(number=1, cutoff=GOLDEN_NOW, created=GOLDEN_NOW, posts=(post,))
    rendered = render_issue(_SETTINGS, _ENV, issue, issue.posts)
    template = MessageTemplate(_SETTINGS, rendered, issue, list_id=default_list_id(_SETTINGS))
    sub = dataclasses.replace(golden_subscriber(), name="李" * 400)
    raw = template.build(sub, "https://e.org/u/1.a")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert PARSER.parsebytes(raw)["To"].addresses[0].display_name == "李" * 200


_ASCII = st.text(alphabet=st.characters(max_codepoint=127), max_size=200)
_ANY = st.one_of(
    _ASCII,
    st.text(max_size=200),
    st.just(EVIL),
    st.builds(
        " ".join,
        st.lists(
            st.sampled_from(
                ["=?", "?=", "=?utf-8?q?a?=", '"', "\\", "(", ")", "<", ">", ",", "\t", "é"]
            ),
            max_size=12,
        ),
    ),
)


@settings(max_examples=400, deadline=None)
@given(name=_ANY, subject=_ANY)
def test_header_lines_parse_back_to_exactly_the_normalised_text(name: str, subject: str) -> None:
    """The chokepoint alone, fast, biased to ASCII (quoted-strings, atoms, '=?' text)."""
    head = (
        mailbox("From", name, "news@example.org")
        + mailbox("To", name, "reader@bücher.example")
        + unstructured("Subject", subject)
        + angle_field("List-Id", name, "list.example.org")
    )
    raw = head + b"\r\nbody\r\n"
    check_header_block(raw, ("From", "To", "Subject", "List-Id"))
    msg = PARSER.parsebytes(raw)
    assert list(msg.keys()) == ["From", "To", "Subject", "List-Id"]
    assert msg["Subject"] == header_text(subject)
    assert msg["From"].addresses[0].display_name == display_name(name)
    to = msg["To"].addresses[0]
    assert (to.display_name, to.addr_spec) == (display_name(name), "reader@xn--bcher-kva.example")


@pytest.mark.parametrize(
    "raw",
    [
        b"From: a@b.org\r\nTo: c@d.org\r\nBcc: e@f.org\r\n\r\n",
        b"From: a@b.org\r\nTo: c@d.org\r\n\r\n",
        b"From: a@b.org\r\nTo: c@d.org\nX: y\r\nSubject: s\r\n\r\n",
        b"From: a@b.org\r\nTo: c@d.org\r\nSubject: \xc3\xa9\r\n\r\n",
        b"From: a@b.org\r\nTo: c@d.org\r\nSubject",
    ],
)
def test_check_header_block_refuses_anything_but_the_expected_fields(raw: bytes) -> None:
    with pytest.raises(MessageError):
        check_header_block(raw, ("From", "To", "Subject"))


def test_site_title_as_sender_name_and_list_id_stays_literal() -> None:
    """With no [digest] from, the site's title names the sender: never decoded either."""
    site = dataclasses.replace(_SETTINGS.site, title=f"Notes {EVIL}")
    config = dataclasses.replace(
        _SETTINGS, site=site, digest=dataclasses.replace(_SETTINGS.digest, sender="")
    )
    post = make_post("p", "Hello", (), "s", 10, GOLDEN_NOW)
    issue = Issue(number=1, cutoff=GOLDEN_NOW, created=GOLDEN_NOW, posts=(post,))
    rendered = render_issue(config, template_env(config), issue, issue.posts)
    template = MessageTemplate(config, rendered, issue, list_id=default_list_id(config))
    raw = template.build(golden_subscriber(), "https://e.org/u/1.a")
    msg = assert_not_injected(raw, DIGEST_FIELDS)
    assert msg["From"].addresses[0].display_name == f"Notes {EVIL}"
    assert msg["From"].addresses[0].addr_spec == _SETTINGS.site.email
    assert str(msg["List-Id"]).startswith(f"Notes {EVIL}")
