"""Digest delivery end to end: a real aiosmtpd server on 127.0.0.1, a real SQLite file.

Each test makes a small site in tmp_path (posts, subscribers, ``transport = "smtp"`` pointing
at the test server with ``security = "none"``) and runs the real pipeline or the real CLI.
"""

from __future__ import annotations

import mailbox
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from threading import Thread

import pytest
from smtp_server import SMTPTestServer

from fieldfeed.cli import app
from fieldfeed.cli.common import run_app
from fieldfeed.config import Settings, load_settings
from fieldfeed.errors import LockedError
from fieldfeed.lock import site_lock
from fieldfeed.mail import DigestReport, publish_digest, send_digest
from fieldfeed.mail.message import message_id
from fieldfeed.store import ledger, open_store
from fieldfeed.store import subscribers as subs

NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # Monday 08:00 in Berlin
SECRET = "test-secret-" + "x" * 40
ENV = {"FIELDFEED_SECRET": SECRET}

POSTS = [
    ("2026-11-20T10:00:00+01:00", "Go channels in anger", ["Go"]),
    ("2026-11-18T10:00:00+01:00", "Postgres vacuum, explained", ["Databases"]),
    ("2026-11-16T10:00:00+01:00", "Distributed tracing on a budget", ["Observability", "Go"]),
]


def make_site(
    root: Path,
    *,
    port: int | None,
    subscribers: int = 0,
    concurrency: int = 2,
    posts: list[tuple[str, str, list[str]]] = POSTS,
    extra: str = "",
) -> Settings:
    """A site in ``root`` with ``posts`` and ``subscribers`` active addresses."""
    transport = (
        f'transport = "smtp"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        if port is not None
        else 'transport = "maildir"\n'
    )
    (root / "fieldfeed.toml").write_text(
        f"""\
[site]
title = "Test Notes"
url = "https://notes.example.org/"
timezone = "Europe/Berlin"
email = "writer@notes.example.org"

[digest]
from = "Test Notes <news@notes.example.org>"
unsubscribe_url = "https://notes.example.org/u/"
schedule = "0 8 * * mon"

[delivery]
{transport}concurrency = {concurrency}
timeout = 10
max_attempts = 4
retry_base = 0.01
{extra}
""",
        encoding="utf-8",
    )
    add_posts(root, posts)
    settings = load_settings(root)
    engine = open_store(settings.database_url)
    with engine.begin() as conn:
        for i in range(subscribers):
            subs.upsert(conn, f"reader{i:04d}@example.org", name=f"Reader {i}", now=NOW)
    return settings


def add_posts(root: Path, posts: list[tuple[str, str, list[str]]]) -> None:
    folder = root / "content" / "posts"
    folder.mkdir(parents=True, exist_ok=True)
    for date, title, tags in posts:
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        (folder / f"{slug}.md").write_text(
            f'---\ntitle: "{title}"\ndate: {date}\ntags: [{", ".join(tags)}]\n---\n\n'
            f"{title}: the body, with enough words to summarise. Ünïcode too.\n",
            encoding="utf-8",
        )


def send(settings: Settings, now: datetime = NOW, **kwargs: object) -> DigestReport:
    return send_digest(settings, now, environ=ENV, **kwargs)  # type: ignore[arg-type]


@pytest.fixture()
def server() -> SMTPTestServer:
    with SMTPTestServer(lifetime=60) as srv:
        yield srv  # type: ignore[misc]


def test_each_subscriber_gets_one_well_formed_message(
    tmp_path: Path, server: SMTPTestServer
) -> None:
    settings = make_site(tmp_path, port=server.port, subscribers=25, concurrency=3)
    report = send(settings)
    assert (report.issue, report.sent, report.failed, report.resumed) == (1, 25, (), False)
    assert report.exit_code == 0

    engine = open_store(settings.database_url)
    ids = {s.email: s.id for s in subs.list_all(engine)}
    got = server.by_recipient()
    assert sorted(got) == sorted(ids)
    for address, messages in got.items():
        assert len(messages) == 1
        raw = messages[0].raw
        head = raw.split(b"\r\n\r\n", 1)[0]
        assert all(len(line) < 998 for line in raw.split(b"\r\n"))
        unfolded = re.sub(rb"\r\n[ \t]+", b" ", head)
        lu = re.search(rb"^List-Unsubscribe: (.*)$", unfolded, re.M)
        assert lu and b"=?" not in lu.group(1)
        assert lu.group(1).startswith(b"<https://notes.example.org/u/")
        assert re.search(rb"^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r?$", unfolded, re.M)
        assert b"8bit" not in raw.lower() and raw.isascii()
        msg = messages[0].parsed()
        assert msg.get_content_type() == "multipart/alternative"
        parts = [p.get_content_type() for p in msg.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        assert all(p["Content-Transfer-Encoding"] == "quoted-printable" for p in msg.iter_parts())
        assert messages[0].message_id == message_id(1, ids[address], "notes.example.org")
        assert address in msg["To"]
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "Go channels in anger" in text and "Postgres vacuum" in text

    # Rerunning after a complete issue sends nothing.
    again = send(settings, NOW + timedelta(hours=1))
    assert again.issue is None and "no new posts since issue #1" in again.reason
    assert server.count == 25


def test_tag_filters_choose_posts_and_skip_when_nothing_matches(
    tmp_path: Path, server: SMTPTestServer
) -> None:
    settings = make_site(tmp_path, port=server.port, subscribers=1)
    engine = open_store(settings.database_url)
    subs.upsert(engine, "gopher@example.org", tags=["go"], now=NOW)
    subs.upsert(engine, "rustacean@example.org", tags=["rust"], now=NOW)
    report = send(settings)
    assert report.sent == 2 and report.skipped == 1
    got = server.by_recipient()
    assert "rustacean@example.org" not in got
    text = got["gopher@example.org"][0].parsed().get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Go channels in anger" in text and "Distributed tracing" in text
    assert "Postgres vacuum" not in text
    full = got["reader0000@example.org"][0].parsed().get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Postgres vacuum" in full
    with engine.connect() as conn:
        skipped = ledger.rows(conn, 1, "skipped")
    assert [d.email for d in skipped] == ["rustacean@example.org"]


def test_451_is_retried_and_delivered_in_the_same_run(
    tmp_path: Path, server: SMTPTestServer
) -> None:
    settings = make_site(tmp_path, port=server.port, subscribers=6)
    server.reply_to("reader0002@example.org", "451 4.7.1 greylisted, try again", "452 4.2.2 full")
    report = send(settings)
    assert report.sent == 6 and report.failed == () and report.retried == 2
    assert len(server.by_recipient()["reader0002@example.org"]) == 1
    engine = open_store(settings.database_url)
    with engine.connect() as conn:
        row = next(d for d in ledger.rows(conn, 1) if d.email == "reader0002@example.org")
    assert (row.status, row.attempts) == ("sent", 3)
    assert row.last_reply.startswith("250")


def test_550_fails_only_that_recipient_and_the_cli_exits_3(
    tmp_path: Path,
    server: SMTPTestServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_site(tmp_path, port=server.port, subscribers=8)
    server.always_reply("reader0003@example.org", "550 5.1.1 no such user")
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FIELDFEED_NOW", NOW.isoformat())
    code = run_app(app, ["digest", "send", "--site", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 3
    assert "7 sent, 1 failed" in out
    assert "failed: reader0003@example.org: 550 5.1.1 no such user" in out
    assert len(server.received()) == 7
    assert "reader0003@example.org" not in server.by_recipient()


def test_dropped_connections_are_recovered(tmp_path: Path, server: SMTPTestServer) -> None:
    settings = make_site(tmp_path, port=server.port, subscribers=20, concurrency=2)
    server.drop_data([4, 11, 12])  # hang up instead of answering these DATA commands
    report = send(settings)
    assert report.sent == 20 and report.failed == () and report.retried == 3
    got = server.by_recipient()
    assert len(got) == 20 and all(len(m) == 1 for m in got.values())


def test_relay_down_keeps_everything_for_a_rerun(tmp_path: Path) -> None:
    with SMTPTestServer() as probe:
        port = probe.port  # a port nobody listens on once the probe stops
    settings = make_site(tmp_path, port=port, subscribers=5)
    from fieldfeed.errors import DeliveryError

    with pytest.raises(DeliveryError, match="issue #1 stays open"):
        send(settings)
    engine = open_store(settings.database_url)
    with engine.connect() as conn:
        assert ledger.counts(conn, 1) == {"pending": 5}
    # The relay is back (same port): the rerun finishes the issue.
    srv = SMTPTestServer()
    srv.port = port
    srv._controller.port = port
    with srv:
        report = send(settings)
        assert report.resumed and report.sent == 5 and report.in_flight_duplicates == ()
        assert len(srv.by_recipient()) == 5


def test_two_hard_bounces_in_a_row_mark_bounced(tmp_path: Path, server: SMTPTestServer) -> None:
    settings = make_site(tmp_path, port=server.port, subscribers=3)
    server.always_reply("reader0001@example.org", "550 5.1.1 mailbox unavailable")
    first = send(settings)
    assert [a for a, _ in first.failed] == ["reader0001@example.org"] and first.bounced == ()
    engine = open_store(settings.database_url)
    assert subs.get(engine, "reader0001@example.org").status == "active"  # type: ignore[union-attr]

    add_posts(tmp_path, [("2026-11-25T09:00:00+01:00", "A second week", ["Go"])])
    second = send(settings, NOW + timedelta(days=3))
    assert second.issue == 2 and second.bounced == ("reader0001@example.org",)
    assert subs.get(engine, "reader0001@example.org").status == "bounced"  # type: ignore[union-attr]
    assert any("now bounced" in line for line in second.summary_lines())

    add_posts(tmp_path, [("2026-11-27T09:00:00+01:00", "A third week", ["Go"])])
    third = send(settings, NOW + timedelta(days=5))
    assert third.sent == 2 and third.failed == ()  # a bounced address gets no more mail


def test_publish_digest_schedule_and_dry_run(tmp_path: Path, server: SMTPTestServer) -> None:
    settings = make_site(tmp_path, port=server.port, subscribers=3)
    db = Path(settings.database_url.removeprefix("sqlite:///"))
    dry = publish_digest(settings, NOW, None, dry_run=True, environ=ENV)
    assert dry.dry_run and dry.issue == 1 and dry.would_send == 3
    assert dry.sample[0] == "reader0000@example.org"
    assert server.count == 0
    with open_store(settings.database_url).connect() as conn:
        assert ledger.counts(conn, 1) == {}  # nothing frozen
    first = publish_digest(settings, NOW, None, environ=ENV)  # first issue: due at once
    assert first.sent == 3
    add_posts(tmp_path, [("2026-11-24T09:00:00+01:00", "Tuesday post", ["Go"])])
    tuesday = NOW + timedelta(days=1, hours=2)
    not_due = publish_digest(settings, tuesday, None, environ=ENV)
    assert not_due.issue is None
    assert not_due.reason.startswith("not due until Mon 2026-11-30 08:00 CET")
    forced = publish_digest(settings, tuesday, None, force=True, environ=ENV)
    assert forced.issue == 2 and forced.sent == 3
    assert db.exists()


def test_two_runs_at_once_never_both_send(tmp_path: Path, server: SMTPTestServer) -> None:
    settings = make_site(tmp_path, port=server.port, subscribers=30, concurrency=1)
    server.slow_down(0.01)
    results: list[object] = []

    def run() -> None:
        try:
            results.append(send(settings))
        except LockedError as exc:
            results.append(exc)

    threads = [Thread(target=run) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    reports = [r for r in results if isinstance(r, DigestReport)]
    refused = [r for r in results if isinstance(r, LockedError)]
    assert len(reports) == 1 and len(refused) == 1
    assert "another fieldfeed run" in str(refused[0])
    assert server.count == 30 and len(server.by_recipient()) == 30
    # Waiting with a timeout: the lock stays held, so the run gives up after the wait.
    with site_lock(settings.state_dir), pytest.raises(LockedError, match=r"after waiting 0\.2s"):
        send(settings, lock_wait=0.2)


def test_maildir_default_with_generated_secret(tmp_path: Path) -> None:
    settings = make_site(tmp_path, port=None, subscribers=4)
    report = send_digest(settings, NOW, environ={})
    assert report.sent == 4
    assert any("FIELDFEED_SECRET is not set" in w for w in report.warnings)
    secret = tmp_path / ".fieldfeed" / "secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    box = mailbox.Maildir(tmp_path / ".fieldfeed" / "outbox", create=False)
    assert len(box) == 4
    assert sorted(m["To"] for m in box)[0] == "Reader 0 <reader0000@example.org>"
    # SMTP requires the real variable.
    smtp_site = tmp_path / "smtp"
    smtp_site.mkdir()
    smtp_settings = make_site(smtp_site, port=1, subscribers=1)
    from fieldfeed.errors import ConfigError

    with pytest.raises(ConfigError, match="FIELDFEED_SECRET is not set"):
        send_digest(smtp_settings, NOW, environ={})


def test_preview_and_test_send_write_nothing_to_the_ledger(
    tmp_path: Path,
    server: SMTPTestServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_site(tmp_path, port=server.port, subscribers=0)
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FIELDFEED_NOW", NOW.isoformat())
    code = run_app(
        app, ["digest", "preview", "--out", str(tmp_path / "pv"), "--site", str(tmp_path)]
    )
    out = capsys.readouterr().out
    assert code == 0 and "issue #1 for reader@example.org" in out
    for suffix in (".html", ".txt", ".eml"):
        assert (tmp_path / "pv" / f"issue-1{suffix}").stat().st_size > 0
    assert "Sample Reader" in (tmp_path / "pv" / "issue-1.eml").read_text()

    code = run_app(app, ["digest", "send", "--to", "me@example.org", "--site", str(tmp_path)])
    assert code == 0
    (msg,) = server.received()
    assert msg.rcpt_tos == ("me@example.org",)
    assert msg.parsed()["Subject"].startswith("[TEST] ")
    settings = load_settings(tmp_path)
    with open_store(settings.database_url).connect() as conn:
        assert ledger.counts(conn, 1) == {}
    # The real send afterwards is issue #1, unaffected by the test send.
    subs.upsert(open_store(settings.database_url), "first@example.org", now=NOW)
    assert send(settings).issue == 1


def test_missing_secret_or_subscribers_freeze_nothing(tmp_path: Path) -> None:
    from fieldfeed.errors import ConfigError

    settings = make_site(tmp_path, port=1, subscribers=2)
    with pytest.raises(ConfigError, match="FIELDFEED_SECRET is not set"):
        send_digest(settings, NOW, environ={})
    with open_store(settings.database_url).connect() as conn:
        assert ledger.counts(conn, 1) == {}  # nothing frozen: the posts wait for a good run
    empty = tmp_path / "empty"
    empty.mkdir()
    report = send(make_site(empty, port=1, subscribers=0))
    assert report.issue is None and "no active subscribers" in report.reason


def test_maildir_opened_by_many_connections_at_once(tmp_path: Path) -> None:
    """Regression: with concurrency > 1 every sender thread opens the (new) Maildir at once."""
    import threading

    from fieldfeed.mail.transports import MaildirTransport

    target = tmp_path / "outbox"
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def open_and_send(n: int) -> None:
        try:
            start.wait()
            MaildirTransport(target).send("a@example.org", "b@example.org", b"Subject: x\r\n\r\nhi")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_and_send, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(mailbox.Maildir(target, create=False)) == 8
