"""Issue 10: the welcome mail after a confirmation, and the preferences page from every mail.

Real parts only: a real build of a temp site (its tag feeds are the topics), ``serve`` under
uvicorn on 127.0.0.1 (the configuration the CLI uses), aiosmtpd on loopback receiving every
mail, and real digest sends through the ledger. Raw bytes are checked as they arrived.
"""

from __future__ import annotations

import quopri
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from serve_helpers import serve_in_thread
from smtp_server import Received, SMTPTestServer
from test_sending import add_posts

from fieldfeed import pipeline
from fieldfeed.config import Settings, load_settings
from fieldfeed.mail import publish_digest
from fieldfeed.mail.headers import check_header_block
from fieldfeed.mail.tokens import sign_preferences, sign_unsubscribe
from fieldfeed.store import open_store
from fieldfeed.store import subscribers as subs
from fieldfeed.web.app import create_app
from fieldfeed.web.mail import WELCOME_FIELDS
from fieldfeed.web.services import WebServices

SECRET = "test-secret-" + "w" * 40
ENV = {"FIELDFEED_SECRET": SECRET}
PUBLIC = "https://notes.example.org"
NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # Monday 08:00 in Berlin
READER = "reader@example.org"

POSTS = [
    ("2026-11-20T10:00:00+01:00", "Go channels in anger", ["Go"]),
    ("2026-11-18T10:00:00+01:00", "Postgres vacuum, explained", ["Databases"]),
    ("2026-11-16T10:00:00+01:00", "Distributed tracing on a budget", ["Observability", "Go"]),
]


def make_site(root: Path, smtp_port: int, *, welcome: bool = True) -> Settings:
    root.mkdir(parents=True, exist_ok=True)
    (root / "fieldfeed.toml").write_text(
        f"""\
[site]
title = "Test Notes"
url = "https://blog.example.org/"
timezone = "Europe/Berlin"
email = "writer@notes.example.org"

[digest]
from = "Test Notes <news@notes.example.org>"
unsubscribe_url = "{PUBLIC}/u/"
archive_url = "{PUBLIC}/archive/"
welcome = {"true" if welcome else "false"}

[delivery]
transport = "smtp"
host = "127.0.0.1"
port = {smtp_port}
security = "none"
timeout = 10
retry_base = 0.01
""",
        encoding="utf-8",
    )
    add_posts(root, POSTS)
    settings = load_settings(root)
    pipeline.build(settings, NOW)  # public/tags/<slug>/: the site's topics
    return settings


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Served:
    settings: Settings
    smtp: SMTPTestServer
    http: httpx.Client
    clock: Clock


@pytest.fixture()
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    with SMTPTestServer(lifetime=90) as smtp:
        settings = make_site(tmp_path / "site", smtp.port)
        clock = Clock()
        app = create_app(settings, WebServices.from_settings(settings, clock=clock))
        with (
            serve_in_thread(app, lifetime=90) as base,
            httpx.Client(base_url=base, timeout=10) as http,
        ):
            yield Served(settings, smtp, http, clock)


def settle(smtp: SMTPTestServer, expected: int) -> list[Received]:
    """Every mail received once nothing more arrives (waits for at least ``expected``)."""
    assert smtp.wait_for(expected, timeout=10), f"only {smtp.count} of {expected} mails arrived"
    time.sleep(0.6)  # background sends run after the response: give extra ones a chance
    return smtp.received()


def text_part(raw: bytes) -> str:
    """The decoded text/plain part."""
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


def link(text: str, path: str) -> str:
    m = re.search(re.escape(PUBLIC + path) + r"[A-Za-z0-9._-]+", text)
    assert m, f"no {path} link in:\n{text}"
    return m.group(0)


def subscribe_and_confirm(s: Served, tags: list[str]) -> tuple[str, int]:
    """Subscribe READER with ``tags`` through the form and confirm; (confirm path, mails)."""
    before = s.smtp.count
    r = s.http.post("/subscribe", data={"email": READER, "name": "Rea", "tags": tags})
    assert r.status_code == 200, r.text
    [confirmation] = settle(s.smtp, before + 1)[before:]
    confirm_path = link(text_part(confirmation.raw), "/confirm/").removeprefix(PUBLIC)
    assert s.http.post(confirm_path).status_code == 200
    return confirm_path, before + 1


def test_confirming_sends_exactly_one_welcome_with_the_expected_headers(served: Served) -> None:
    s = served
    # An issue went out before the reader came: the welcome links to it.
    engine = open_store(s.settings.database_url)
    subs.upsert(engine, "early@example.org", status="active", now=NOW - timedelta(days=30))
    report = publish_digest(s.settings, NOW, None, force=True, environ=ENV)
    assert report.sent == 1
    early = settle(s.smtp, 1)

    confirm_path, count = subscribe_and_confirm(s, ["go"])
    # Confirming twice (a double click, a scanner and the reader) sends one welcome.
    r = s.http.post(confirm_path)
    assert r.status_code == 200 and "subscribed" in r.text
    mails = settle(s.smtp, count + 1)[len(early) :]
    welcomes = [m for m in mails if b"Subject: Welcome to Test Notes" in m.raw]
    assert len(welcomes) == 1 and len(mails) == 2, [m.raw[:300] for m in mails]
    [welcome] = welcomes
    assert welcome.rcpt_tos == (READER,)
    raw = welcome.raw
    check_header_block(raw, WELCOME_FIELDS)  # exactly these fields, in this order
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    sub = subs.get(engine, READER)
    assert sub is not None and sub.status == "active" and sub.tags == ("go",)
    assert f"Message-ID: <welcome.sub-{sub.id}@notes.example.org>\r\n" in head
    unsub = f"{PUBLIC}/u/{sign_unsubscribe(SECRET.encode(), sub.id)}"
    assert f"List-Unsubscribe: <{unsub}>\r\n" in head
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in head
    assert "List-Id: Test Notes <test-notes.blog.example.org>\r\n" in head
    assert "=?" not in head
    text = text_part(raw)
    assert f"{PUBLIC}/archive/1/" in text  # the latest issue
    assert f"{PUBLIC}/archive/\n" in text
    assert "You get posts tagged: Go." in text
    prefs = link(text, "/preferences/")
    page = s.http.get(prefs.removeprefix(PUBLIC))
    assert page.status_code == 200 and READER in page.text
    html = quopri.decodestring(raw.split(b"Content-Type: text/html", 1)[1])
    assert b"Choose topics" in html and b"Read the latest issue" in html

    # The one-click link in the welcome's header works like a digest's.
    r = s.http.post(unsub.removeprefix(PUBLIC), data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert subs.get(engine, READER).status == "unsubscribed"  # type: ignore[union-attr]


def test_the_preferences_link_of_a_real_digest_changes_what_the_next_issue_holds(
    served: Served,
) -> None:
    s = served
    _, count = subscribe_and_confirm(s, ["go"])
    settle(s.smtp, count + 1)  # the welcome

    # Issue 1, a real send: the reader's filter (Go) lets two of the three posts through.
    report = publish_digest(s.settings, NOW, None, force=True, environ=ENV)
    assert report.sent == 1
    [digest] = settle(s.smtp, count + 2)[count + 1 :]
    text = text_part(digest.raw)
    assert "Go channels in anger" in text and "Postgres vacuum" not in text
    prefs_path = link(text, "/preferences/").removeprefix(PUBLIC)
    html = digest.raw.split(b"Content-Type: text/html", 1)[1]
    assert b">Preferences</a>" in quopri.decodestring(html)

    page = s.http.get(prefs_path)
    assert page.status_code == 200
    assert READER in page.text
    for slug in ("databases", "go", "observability"):
        assert f'name="tags" value="{slug}"' in page.text
    assert 'value="go" checked' in page.text and 'value="databases" checked' not in page.text
    assert 'name="do" value="unsubscribe"' in page.text

    # A topic the site does not have is refused, and nothing changes.
    r = s.http.post(prefs_path, data={"do": "save", "tags": ["databases", "Knitting"]})
    assert r.status_code == 400 and "not a topic on this site" in r.text
    engine = open_store(s.settings.database_url)
    assert subs.get(engine, READER).tags == ("go",)  # type: ignore[union-attr]
    # Another site's page cannot change it through a visitor's browser.
    r = s.http.post(
        prefs_path,
        data={"do": "save", "tags": "databases"},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    assert subs.get(engine, READER).tags == ("go",)  # type: ignore[union-attr]

    r = s.http.post(prefs_path, data={"do": "save", "tags": "databases"})
    assert r.status_code == 200 and "Saved." in r.text
    assert 'value="databases" checked' in r.text
    assert subs.get(engine, READER).tags == ("databases",)  # type: ignore[union-attr]

    # The next issue (a real send) honours the new topics.
    add_posts(
        s.settings.root,
        [
            ("2026-11-25T10:00:00+01:00", "Goroutine leaks", ["Go"]),
            ("2026-11-26T10:00:00+01:00", "Index-only scans", ["Databases"]),
        ],
    )
    later = NOW + timedelta(days=7)
    s.clock.now = later
    report = publish_digest(s.settings, later, None, force=True, environ=ENV)
    assert report.issue == 2 and report.sent == 1
    [second] = settle(s.smtp, count + 3)[count + 2 :]
    text = text_part(second.raw)
    assert "Index-only scans" in text and "Goroutine leaks" not in text

    # No topics checked: every post again.
    r = s.http.post(link(text, "/preferences/").removeprefix(PUBLIC), data={"do": "save"})
    assert r.status_code == 200
    assert subs.get(engine, READER).tags == ()  # type: ignore[union-attr]
    # And the page's Unsubscribe button unsubscribes.
    r = s.http.post(prefs_path, data={"do": "unsubscribe"})
    assert r.status_code == 200 and "unsubscribed" in r.text
    assert subs.get(engine, READER).status == "unsubscribed"  # type: ignore[union-attr]


def test_the_subscribe_form_offers_the_sites_tags_and_refuses_others(served: Served) -> None:
    s = served
    page = s.http.get("/subscribe")
    assert page.status_code == 200
    for slug, name in (
        ("databases", "Databases"),
        ("go", "Go"),
        ("observability", "Observability"),
    ):
        assert f'<input type="checkbox" name="tags" value="{slug}"> {name}</label>' in page.text
    r = s.http.post("/subscribe", data={"email": READER, "tags": ["go", "Knitting"]})
    assert r.status_code == 400
    assert "not a topic on this site" in r.text and "Knitting" not in r.text
    assert 'value="go" checked' in r.text  # the valid choice is kept for the next try
    engine = open_store(s.settings.database_url)
    assert subs.get(engine, READER) is None
    time.sleep(0.5)
    assert s.smtp.count == 0  # nothing stored, nothing mailed


def test_forged_expired_or_wrong_kind_tokens_get_400(served: Served) -> None:
    s = served
    engine = open_store(s.settings.database_url)
    sub, _ = subs.upsert(engine, READER, status="active", now=NOW)
    good = sign_preferences(SECRET.encode(), sub.id, int(NOW.timestamp()))
    assert s.http.get(f"/preferences/{good}").status_code == 200
    other, _ = subs.upsert(engine, "other@example.org", status="active", now=NOW)
    ident, issued, mac = good.split(".")
    expired = sign_preferences(
        SECRET.encode(), sub.id, int((NOW - timedelta(days=181)).timestamp())
    )
    for token in (
        f"{other.id}.{issued}.{mac}",  # another subscriber's id under this MAC
        f"{ident}.{int(issued) + 1}.{mac}",  # a later issue time
        good[:-2],
        sign_unsubscribe(SECRET.encode(), sub.id),  # the unsubscribe token is another kind
        sign_preferences(b"another-secret-" + b"k" * 40, sub.id, int(NOW.timestamp())),
        expired,
    ):
        r = s.http.get(f"/preferences/{token}")
        assert r.status_code == 400, token
        assert READER not in r.text
        r = s.http.post(f"/preferences/{token}", data={"do": "unsubscribe"})
        assert r.status_code == 400
    assert subs.get(engine, READER).status == "active"  # type: ignore[union-attr]


def test_welcome_off_and_a_failing_welcome_never_undo_the_confirmation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    with SMTPTestServer(lifetime=60) as smtp:
        settings = make_site(tmp_path / "off", smtp.port, welcome=False)
        app = create_app(settings, WebServices.from_settings(settings, clock=Clock()))
        with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=10) as http:
            s = Served(settings, smtp, http, Clock())
            _, count = subscribe_and_confirm(s, [])
            assert len(settle(smtp, count)) == 1  # the confirmation, no welcome

        settings = make_site(tmp_path / "failing", smtp.port)
        app = create_app(settings, WebServices.from_settings(settings, clock=Clock()))
        with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=10) as http:
            s = Served(settings, smtp, http, Clock())
            r = http.post("/subscribe", data={"email": READER})
            [confirmation] = settle(smtp, count + 1)[count:]
            path = link(text_part(confirmation.raw), "/confirm/").removeprefix(PUBLIC)
            smtp.always_reply(READER, "550 5.1.1 mailbox gone")  # the relay refuses the welcome
            with caplog.at_level("ERROR", logger="fieldfeed.web.welcome"):
                r = http.post(path)
                assert r.status_code == 200 and "subscribed" in r.text
                deadline = time.monotonic() + 10
                while "could not send the welcome mail" not in caplog.text:
                    assert time.monotonic() < deadline, "the failure was not logged"
                    time.sleep(0.05)
            engine = open_store(settings.database_url)
            assert subs.get(engine, READER).status == "active"  # type: ignore[union-attr]
            assert READER not in caplog.text  # logged by subscriber id, not by address


def test_preferences_posts_are_rate_limited_on_their_own(served: Served) -> None:
    s = served
    engine = open_store(s.settings.database_url)
    sub, _ = subs.upsert(engine, READER, status="active", now=NOW)
    path = f"/preferences/{sign_preferences(SECRET.encode(), sub.id, int(NOW.timestamp()))}"
    rate = s.settings.serve.subscribe_rate
    for _ in range(rate):
        assert s.http.post(path, data={"do": "save", "tags": "go"}).status_code == 200
    r = s.http.post(path, data={"do": "save", "tags": "databases"})
    assert r.status_code == 429 and "Retry-After" in r.headers
    assert subs.get(engine, READER).tags == ("go",)  # type: ignore[union-attr]
    # Sign-ups from the same client are counted separately.
    assert s.http.post("/subscribe", data={"email": "new@example.org"}).status_code == 200
