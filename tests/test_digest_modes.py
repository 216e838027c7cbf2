"""``[digest] mode`` and ``[digest] content`` end to end: a real aiosmtpd server on 127.0.0.1,
a real SQLite file, real sites in tmp_path, a pinned clock.

Per-post mode mails each new post on its own, once; full content puts the post's body (made
safe for mail) in the issue.
"""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from smtp_server import Received, SMTPTestServer
from test_sending import ENV, NOW, POSTS, add_posts, make_site, send

from fieldfeed.cli import app
from fieldfeed.cli.common import run_app
from fieldfeed.config import Settings, load_settings
from fieldfeed.mail import publish_digest
from fieldfeed.store import open_store
from fieldfeed.store import subscribers as subs


@pytest.fixture()
def server() -> SMTPTestServer:
    with SMTPTestServer(lifetime=60) as srv:
        yield srv  # type: ignore[misc]


def set_digest(root: Path, **keys: str) -> Settings:
    """Add ``[digest]`` keys to the site's fieldfeed.toml and reload it."""
    toml = root / "fieldfeed.toml"
    lines = "".join(f'{k} = "{v}"\n' for k, v in keys.items())
    toml.write_text(toml.read_text().replace("[digest]\n", "[digest]\n" + lines), "utf-8")
    return load_settings(root)


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def subjects(received: list[Received]) -> list[str]:
    return [str(m.parsed()["Subject"]) for m in received]


# --- per-post mode ---------------------------------------------------------------------------


def test_per_post_sends_one_mail_per_new_post_once(tmp_path: Path, server: SMTPTestServer) -> None:
    make_site(tmp_path, port=server.port, subscribers=2)
    settings = set_digest(tmp_path, mode="per-post")
    # Not a scheduled time (the schedule is Mondays 08:00): per-post mail does not wait for it.
    now = NOW + timedelta(hours=3)
    report = publish_digest(settings, now, None, environ=ENV)
    assert report.issues == (1, 2, 3)
    assert report.exit_code == 0
    got = server.by_recipient()
    assert sorted(got) == ["reader0000@example.org", "reader0001@example.org"]
    oldest_first = [title for _date, title, _tags in reversed(POSTS)]
    for messages in got.values():
        assert subjects(messages) == oldest_first
        assert len({m.message_id for m in messages}) == 3
        for m in messages:
            # The title is the whole subject, as serialized (through mail/headers.py).
            title = str(m.parsed()["Subject"])
            assert re.search(rb"^Subject: " + re.escape(title.encode()) + rb"\r?$", m.raw, re.M)
            html = html_of(m.parsed())
            assert "New post &middot;" in html or "New post ·" in html
            assert "new posts since" not in html
    lines = "\n".join(report.summary_lines())
    assert "digest #1:" in lines and "digest #3:" in lines

    # A rerun sends nothing: every post is in an issue.
    again = publish_digest(settings, now + timedelta(minutes=5), None, environ=ENV)
    assert again.issue is None and again.issues == ()
    assert "no new posts" in again.reason
    assert server.count == 6

    # A new post goes out on the next publish, alone, as issue #4.
    add_posts(tmp_path, [("2026-11-23T11:00:00+01:00", "Fresh: a new post", ["Go"])])
    later = publish_digest(settings, now + timedelta(hours=1), None, environ=ENV)
    assert later.issues == (4,)
    assert server.count == 8
    assert subjects(server.received()[6:]) == ["Fresh: a new post"] * 2


def test_per_post_honours_tag_filters_and_the_cli_publish(
    tmp_path: Path, server: SMTPTestServer
) -> None:
    settings = make_site(tmp_path, port=server.port, subscribers=1)
    settings = set_digest(tmp_path, mode="per-post")
    engine = open_store(settings.database_url)
    with engine.begin() as conn:
        subs.upsert(conn, "gopher@example.org", name="", tags=("go",), now=NOW)
    monkey_env = {**ENV, "FIELDFEED_NOW": NOW.isoformat()}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in monkey_env.items():
            mp.setenv(key, value)
        assert run_app(app, ["publish", "--site", str(tmp_path)]) == 0
        assert run_app(app, ["publish", "--site", str(tmp_path)]) == 0  # nothing new: 0
    got = server.by_recipient()
    assert subjects(got["reader0000@example.org"]) == [t for _d, t, _g in reversed(POSTS)]
    # Two of the three posts are tagged Go.
    assert subjects(got["gopher@example.org"]) == [
        "Distributed tracing on a budget",
        "Go channels in anger",
    ]


def test_per_post_after_digests_sends_only_posts_no_issue_held(
    tmp_path: Path, server: SMTPTestServer
) -> None:
    settings = make_site(tmp_path, port=server.port, subscribers=1)
    assert send(settings).issue == 1  # a digest of the three posts
    add_posts(tmp_path, [("2026-11-23T09:00:00+01:00", "After the digest", [])])
    settings = set_digest(tmp_path, mode="per-post")
    report = publish_digest(settings, NOW + timedelta(hours=2), None, environ=ENV)
    assert report.issues == (2,)
    assert subjects(server.received()[1:]) == ["After the digest"]


# --- full content ----------------------------------------------------------------------------

BODY = """\
---
title: "Tables, code and pictures"
date: 2026-11-21T10:00:00+01:00
tags: [Go]
image: lead.png
---

The opening paragraph of the full post, which the mail must carry whole.

![A diagram](diagram.png)

| name | value | note |
|------|-------|------|
| alpha | 1 | {long} |

    def handler(request):
        return {code}

<script>alert("no")</script>
<iframe src="https://evil.example/frame"></iframe>
<form action="https://evil.example/"><input name="card"></form>
<p onclick="steal()">The closing paragraph.</p>
"""


def write_rich_post(root: Path) -> None:
    folder = root / "content" / "posts"
    folder.mkdir(parents=True, exist_ok=True)
    body = BODY.format(long="x" * 120, code="y" * 150)
    (folder / "rich.md").write_text(body, encoding="utf-8")


def test_full_content_issue_carries_the_body_safe_for_mail(
    tmp_path: Path, server: SMTPTestServer
) -> None:
    make_site(tmp_path, port=server.port, subscribers=1, posts=[])
    write_rich_post(tmp_path)
    settings = set_digest(tmp_path, content="full")
    assert send(settings).sent == 1
    message = server.received()[0].parsed()
    html = html_of(message)
    assert "The opening paragraph of the full post" in html
    assert "The closing paragraph." in html
    for bad in ("<script", "<iframe", "<form", "<input", "onclick", "evil.example"):
        assert bad not in html.lower()
    # Images absolute, width-limited for Outlook and for everyone else.
    img = re.search(
        r'<img [^>]*src="https://notes\.example\.org/posts/[^"]*diagram\.png"[^>]*>', html
    )
    assert img, html
    assert 'width="540"' in img.group(0) and "max-width:100%" in img.group(0)
    # The front matter image leads the card, absolute.
    assert re.search(
        r'<img class="ff-image" src="https://notes\.example\.org/[^"]*lead\.png"', html
    )
    # The table scrolls inside its own box; code wraps.
    assert re.search(r'<div class="ff-scroll" style="[^"]*overflow-x:auto', html)
    assert re.search(r'<pre style="[^"]*white-space:pre-wrap', html)
    assert "Read the rest" not in html
    text = text_of(message)
    assert "The opening paragraph of the full post" in text
    assert "        return " + "y" * 150 in text  # code kept verbatim, indented


def test_summary_issue_shows_the_image_but_not_the_body(
    tmp_path: Path, server: SMTPTestServer
) -> None:
    settings = make_site(tmp_path, port=server.port, subscribers=1, posts=[])
    write_rich_post(tmp_path)
    assert send(settings).sent == 1
    html = html_of(server.received()[0].parsed())
    assert re.search(
        r'<img class="ff-image" src="https://notes\.example\.org/[^"]*lead\.png"', html
    )
    assert "def handler" not in html and "<pre" not in html  # a summary, not the body
    assert "Read the article" in html


def test_per_post_full_content_is_one_post_with_its_body(
    tmp_path: Path, server: SMTPTestServer
) -> None:
    make_site(tmp_path, port=server.port, subscribers=1, posts=[])
    write_rich_post(tmp_path)
    settings = set_digest(tmp_path, mode="per-post", content="full")
    report = publish_digest(settings, NOW, None, environ=ENV)
    assert report.issues == (1,)
    message = server.received()[0].parsed()
    assert message["Subject"] == "Tables, code and pictures"
    assert "The closing paragraph." in html_of(message)


def test_per_post_finishes_an_interrupted_post_mail_first(
    tmp_path: Path, server: SMTPTestServer
) -> None:
    """A run that died after freezing the first post's issue (before any send): the next
    publish sends that issue, then the other new posts, each once."""
    from fieldfeed.mail.freezing import freeze_next_issue, load_content_locked

    make_site(tmp_path, port=server.port, subscribers=2)
    settings = set_digest(tmp_path, mode="per-post")
    engine = open_store(settings.database_url)
    posts = load_content_locked(settings, NOW).posts
    assert freeze_next_issue(settings, engine, posts, NOW) == (1, "")
    report = publish_digest(settings, NOW + timedelta(minutes=1), None, environ=ENV)
    assert report.issues == (1, 2, 3)
    assert report.earlier[0].issue == 1
    got = server.by_recipient()
    oldest_first = [title for _date, title, _tags in reversed(POSTS)]
    assert all(subjects(messages) == oldest_first for messages in got.values())
    assert server.count == 6


def test_run_mails_new_posts_on_its_feeds_interval(
    tmp_path: Path, server: SMTPTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fieldfeed run` in per-post mode: the interval job (not the weekly cron) mails a post
    that appeared since the last round, once."""
    from fieldfeed.runner import Runner

    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    make_site(tmp_path, port=server.port, subscribers=1)
    settings = set_digest(tmp_path, mode="per-post")
    runner = Runner(settings)
    wednesday = NOW + timedelta(days=2)  # far from the Monday schedule
    runner.start(wednesday)
    assert server.count == 3
    runner.feeds(wednesday + timedelta(minutes=15))
    assert server.count == 3  # nothing new: nothing sent
    add_posts(tmp_path, [("2026-11-25T07:00:00+01:00", "Written on Wednesday", [])])
    runner.feeds(wednesday + timedelta(minutes=30))
    assert server.count == 4
    assert subjects(server.received()[3:]) == ["Written on Wednesday"]
