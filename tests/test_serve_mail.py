"""The subscribe form cannot be turned into a mail cannon (issue 7, items 4 and 9).

Real ``serve`` (uvicorn on 127.0.0.1, the configuration the CLI uses) and a real SMTP server
(aiosmtpd on loopback): every assertion counts the confirmation mails that really arrived.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from serve_helpers import serve_in_thread
from smtp_server import SMTPTestServer

from fieldfeed.config import Settings, load_settings
from fieldfeed.mail.tokens import sign_unsubscribe
from fieldfeed.store import open_store
from fieldfeed.store import subscribers as subs
from fieldfeed.web.app import create_app
from fieldfeed.web.ratelimit import RateLimiter, mailbox_key, network_key
from fieldfeed.web.services import WebServices

SECRET = "test-secret-" + "x" * 40
ENV = {"FIELDFEED_SECRET": SECRET}
PUBLIC = "https://notes.example.org"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def make_site(root: Path, smtp_port: int, *, rate: int = 100, unsubscribe: bool = True) -> Settings:
    unsub = f'unsubscribe_url = "{PUBLIC}/u/"\n' if unsubscribe else ""
    (root / "fieldfeed.toml").write_text(
        f"""\
[site]
title = "Test Notes"
url = "https://blog.example.org/"
timezone = "Europe/Berlin"
email = "writer@notes.example.org"

[digest]
from = "Test Notes <news@notes.example.org>"
{unsub}
[delivery]
transport = "smtp"
host = "127.0.0.1"
port = {smtp_port}
security = "none"
timeout = 10

[serve]
subscribe_rate = {rate}
""",
        encoding="utf-8",
    )
    (root / "public").mkdir()
    return load_settings(root)


@pytest.fixture()
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[SMTPTestServer]:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    with SMTPTestServer(lifetime=60) as server:
        yield server


def settle(smtp: SMTPTestServer, expected: int) -> int:
    """The number of mails received once nothing more arrives (at least ``expected``)."""
    smtp.wait_for(expected, timeout=10)
    time.sleep(0.5)  # background sends run after the response: give extra ones a chance
    return smtp.count


def post(http: httpx.Client, email: str, ip: str = "198.51.100.1", **headers: str) -> int:
    # uvicorn trusts X-Forwarded-For from 127.0.0.1: the test plays the reverse proxy.
    r = http.post("/subscribe", data={"email": email}, headers={"x-forwarded-for": ip, **headers})
    return r.status_code


# --- item 4: one mailbox, one network, one budget ---------------------------------------


def test_mailbox_and_network_keys() -> None:
    same = [
        "Victim+1@Example.org",
        "victim+2@example.org",
        "VICTIM@EXAMPLE.ORG.",
        "victim@example.org",
    ]
    assert {mailbox_key(a) for a in same} == {"victim@example.org"}
    assert mailbox_key("a.b@example.org") != mailbox_key("ab@example.org")  # only Gmail
    gmail = ["J.Doe@gmail.com", "jdoe+x@googlemail.com", "j.d.o.e@GMAIL.com"]
    assert {mailbox_key(a) for a in gmail} == {"jdoe@gmail.com"}
    assert mailbox_key("v@bücher.example") == mailbox_key("v@xn--bcher-kva.example")
    assert network_key("2001:db8:1:2::1") == network_key("2001:db8:1:2:ffff:1:2:3")
    assert network_key("2001:db8:1:2::1") != network_key("2001:db8:1:3::1")
    assert network_key("::ffff:198.51.100.9") == network_key("198.51.100.9") == "198.51.100.9"
    assert network_key("unknown") == "unknown"


def test_one_mailbox_gets_three_confirmations_however_it_is_spelled(
    tmp_path: Path, smtp: SMTPTestServer
) -> None:
    settings = make_site(tmp_path, smtp.port)
    spellings = [
        "Victim+1@Example.org",
        "victim+2@example.org",
        "VICTIM@example.org",
        "victim@example.org",
        "victim+news@EXAMPLE.ORG",
        "Victim+a+b@example.org",
    ]
    app = create_app(settings, WebServices.from_settings(settings))
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        codes = [post(http, email, ip=f"198.51.100.{i}") for i, email in enumerate(spellings)]
        assert codes == [200] * len(spellings)  # the page never tells
        assert settle(smtp, 3) == 3
    assert {m.rcpt_tos[0].lower().split("+")[0].split("@")[0] for m in smtp.received()} == {
        "victim"
    }


def test_an_ipv6_slash_64_is_one_client(tmp_path: Path, smtp: SMTPTestServer) -> None:
    settings = make_site(tmp_path, smtp.port, rate=3)
    app = create_app(settings, WebServices.from_settings(settings))
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        codes = [post(http, f"p{i}@example.org", ip=f"2001:db8:1:2::{i:x}") for i in range(1, 6)]
        assert codes == [200, 200, 200, 429, 429]
        # The same host through a random interface id, and an IPv4-mapped twin of an IPv4.
        assert post(http, "q@example.org", ip="2001:db8:1:2:a:b:c:d") == 429
        assert post(http, "r@example.org", ip="2001:db8:1:3::1") == 200
        for i in range(3):
            assert post(http, f"s{i}@example.org", ip="::ffff:192.0.2.1") == 200
        assert post(http, "t@example.org", ip="192.0.2.1") == 429
        assert settle(smtp, 7) == 7


def test_flooding_the_limiter_does_not_reset_a_victim(tmp_path: Path, smtp: SMTPTestServer) -> None:
    """A full limiter forgets the least recently seen key, never all keys at once."""
    settings = make_site(tmp_path, smtp.port, rate=10_000)
    limiter = RateLimiter(3, 3600.0, max_keys=20)  # the real class, a small table
    app = create_app(settings, WebServices.from_settings(settings, mail_limiter=limiter))
    victim = "victim@example.org"
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        for _ in range(4):
            post(http, victim)
        for round_ in range(3):
            for i in range(19):
                post(http, f"flood{round_}-{i}@example.org")
                if i % 6 == 5:
                    post(http, victim)  # the attacker keeps trying
            post(http, victim)
        assert len(limiter) <= 20
        settle(smtp, 3 + 3 * 19)
    to_victim = [m for m in smtp.received() if m.rcpt_tos == (victim,)]
    assert len(to_victim) == 3


def test_a_cross_site_post_sends_no_mail(tmp_path: Path, smtp: SMTPTestServer) -> None:
    settings = make_site(tmp_path, smtp.port)
    app = create_app(settings, WebServices.from_settings(settings))
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        refused = {
            "x1@example.org": {"origin": "https://evil.example"},
            "x2@example.org": {"origin": "null"},
            "x3@example.org": {"referer": "https://evil.example/page.html"},
            "x4@example.org": {"origin": "https://notes.example.org.evil.example"},
            "x5@example.org": {"origin": "http://notes.example.org"},  # not the https origin
            "x6@example.org": {"origin": "https://evil.example", "referer": f"{PUBLIC}/"},
        }
        for email, headers in refused.items():
            r = http.post("/subscribe", data={"email": email}, headers=headers)
            assert r.status_code == 403, email
            assert "Traceback" not in r.text
        allowed = {
            "ok1@example.org": {"origin": PUBLIC},  # where serve is public
            "ok2@example.org": {"origin": "https://BLOG.example.org:443"},  # the blog embeds it
            "ok3@example.org": {"origin": base},  # serve opened directly
            "ok4@example.org": {"referer": "https://blog.example.org/posts/x/"},
            "ok5@example.org": {},  # no browser: curl
        }
        for email, headers in allowed.items():
            r = http.post("/subscribe", data={"email": email}, headers=headers)
            assert r.status_code == 200, email
        assert settle(smtp, len(allowed)) == len(allowed)
        assert sorted(m.rcpt_tos[0] for m in smtp.received()) == sorted(allowed)
        engine = open_store(settings.database_url)
        assert all(subs.get(engine, email) is None for email in refused)

        # Our own form makes browsers send a real Origin (no-referrer would make it "null").
        form = http.get("/subscribe")
        assert form.headers["referrer-policy"] == "same-origin"

        # RFC 8058 one-click comes from mail servers with no Origin, or from anywhere: the
        # token is the authority there, so it still works.
        sub, _ = subs.upsert(engine, "reader@example.org", status="active", now=NOW)
        token = sign_unsubscribe(SECRET.encode(), sub.id)
        r = http.post(
            f"/u/{token}",
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded", "origin": "null"},
        )
        assert r.status_code == 200
        assert subs.get(engine, "reader@example.org").status == "unsubscribed"  # type: ignore[union-attr]


# --- item 9: links never come from request headers -----------------------------------------


def confirm_links(smtp: SMTPTestServer) -> list[str]:
    links = []
    for message in smtp.received():
        body = message.parsed().get_body(("plain",))
        assert body is not None
        links += re.findall(r"\S+/confirm/\S+", body.get_content())
    return links


def test_a_forged_host_header_never_reaches_a_link(tmp_path: Path, smtp: SMTPTestServer) -> None:
    settings = make_site(tmp_path, smtp.port)
    app = create_app(settings, WebServices.from_settings(settings))
    forged = {"host": "evil.example", "x-forwarded-host": "evil.example"}
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        assert post(http, "ann@example.org", **forged) == 200
        assert settle(smtp, 1) == 1
    [link] = confirm_links(smtp)
    assert link.startswith(f"{PUBLIC}/confirm/") and "evil" not in link


def test_without_a_public_url_subscribe_is_refused_not_linked_to_the_host(
    tmp_path: Path, smtp: SMTPTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_site(tmp_path, smtp.port, unsubscribe=False)
    app = create_app(settings, WebServices.from_settings(settings))
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        r = http.post(
            "/subscribe", data={"email": "bob@example.org"}, headers={"host": "evil.example"}
        )
        received = settle(smtp, 0)
        assert confirm_links(smtp) == []  # was: http://evil.example/confirm/<valid token>
        assert received == 0
        assert r.status_code == 503 and "not set up" in r.text
        assert http.get("/subscribe").status_code == 503  # no form that cannot work
        assert http.get("/health").status_code == 200  # the rest of serve still answers
    assert "unsubscribe_url is not set: /subscribe answers 503" in caplog.text
