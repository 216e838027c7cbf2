"""Issue 10: never miss a post, never surprise the list. Through a real SMTP server on
loopback, a real SQLite file and the CLI with a pinned clock (FIELDFEED_NOW).

- a post dated before the last issue but added after it lands in the next issue;
- max_posts overflow is carried to the next issue;
- the first issue waits for the schedule after a list is imported; ``digest send`` sends now;
- a back-dated import is held back, reported, and sent with ``--include-old``;
- ``digest send --to`` tells the truth about what is waiting.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from smtp_server import SMTPTestServer
from test_sending import ENV, NOW, add_posts, make_site
from typer.testing import CliRunner

from fieldfeed.cli import app
from fieldfeed.cli.common import run_app
from fieldfeed.config import Settings, load_settings
from fieldfeed.store import open_store
from fieldfeed.store import subscribers as subs

NEXT_MONDAY = NOW + timedelta(days=7)  # Mon 2026-11-30 08:00 Berlin


@pytest.fixture()
def server() -> SMTPTestServer:
    with SMTPTestServer(lifetime=60) as srv:
        yield srv  # type: ignore[misc]


def cli(now: datetime, *args: str | Path) -> tuple[int, str]:
    """The CLI as main() runs it, at ``now``; (exit code, stdout + stderr)."""
    env = {**ENV, "FIELDFEED_NOW": now.isoformat()}
    with CliRunner().isolation(env=env) as (out, err, _):
        code = run_app(app, [str(a) for a in args])
        return code, out.getvalue().decode() + err.getvalue().decode()


def digest_keys(root: Path, keys: str) -> Settings:
    """Add ``keys`` to the site's [digest] table."""
    config = root / "fieldfeed.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[digest]\n", f"[digest]\n{keys}\n"), encoding="utf-8")
    return load_settings(root)


def texts(server: SMTPTestServer) -> list[str]:
    """The text part of every message received, in order."""
    found = []
    for received in server.messages:
        msg: EmailMessage = received.parsed()
        part = msg.get_body(("plain",))
        assert part is not None
        found.append(part.get_content())
    return found


def test_a_post_dated_before_the_last_issue_but_added_after_it_is_in_the_next_issue(
    tmp_path: Path, server: SMTPTestServer
) -> None:
    make_site(tmp_path, port=server.port, subscribers=1)
    code, out = cli(NOW, "digest", "send", "--site", tmp_path)
    assert code == 0, out
    assert "digest #1: 1 sent" in out and "next issue due Mon 2026-11-30 08:00 CET" in out
    # Jekyll style: a date-only post written on digest day, added after the 08:00 send. Its
    # date (midnight) is before issue #1: the date window of old put it in no issue.
    add_posts(tmp_path, [("2026-11-23", "Written on digest day", [])])
    code, out = cli(NOW + timedelta(hours=2), "publish", "--site", tmp_path)
    assert code == 0, out
    assert "not due until Mon 2026-11-30 08:00 CET" in out
    assert len(server.messages) == 1
    code, out = cli(NEXT_MONDAY, "publish", "--site", tmp_path)
    assert code == 0, out
    assert "digest #2: 1 sent" in out, out
    assert len(server.messages) == 2
    second = texts(server)[1]
    assert "Written on digest day" in second
    assert "Go channels in anger" not in second  # sent in issue #1, never again
    code, out = cli(NEXT_MONDAY + timedelta(days=7), "publish", "--site", tmp_path)
    assert "no new posts since issue #2" in out and len(server.messages) == 2


def test_max_posts_overflow_is_carried_to_the_next_issue(
    tmp_path: Path, server: SMTPTestServer
) -> None:
    make_site(tmp_path, port=server.port, subscribers=1)
    digest_keys(tmp_path, "max_posts = 2")
    code, out = cli(NOW, "digest", "send", "--site", tmp_path)
    assert code == 0, out
    first = texts(server)[0]
    # The oldest two go first; the newest waits for the next issue.
    assert "Postgres vacuum" in first and "Distributed tracing" in first
    assert "Go channels in anger" not in first
    code, out = cli(NEXT_MONDAY, "publish", "--site", tmp_path)
    assert code == 0, out
    assert "digest #2: 1 sent" in out
    second = texts(server)[1]
    assert "Go channels in anger" in second and "Postgres vacuum" not in second


def test_the_first_issue_waits_for_the_schedule_after_an_import(
    tmp_path: Path, server: SMTPTestServer
) -> None:
    tuesday = NOW + timedelta(days=1, hours=3)  # Tue 2026-11-24 11:00 Berlin
    make_site(tmp_path, port=server.port)
    csv = tmp_path / "list.csv"
    csv.write_text("email,name\na@example.org,A\nb@example.org,B\n", encoding="utf-8")
    code, out = cli(tuesday, "subscribers", "import", csv, "--site", tmp_path)
    assert code == 0, out
    code, out = cli(tuesday, "publish", "--site", tmp_path)
    assert code == 0, out
    assert "first issue not due until Mon 2026-11-30 08:00 CET" in out, out
    assert server.messages == []  # a freshly imported list is not mailed at once
    code, out = cli(NEXT_MONDAY - timedelta(minutes=1), "publish", "--site", tmp_path)
    assert server.messages == [] and "first issue not due" in out
    code, out = cli(NEXT_MONDAY, "publish", "--site", tmp_path)
    assert code == 0, out
    assert "digest #1: 2 sent" in out and "next issue due Mon 2026-12-07 08:00 CET" in out
    assert len(server.messages) == 2


def test_digest_send_still_sends_the_first_issue_now(
    tmp_path: Path, server: SMTPTestServer
) -> None:
    tuesday = NOW + timedelta(days=1)
    settings = make_site(tmp_path, port=server.port)
    with open_store(settings.database_url).begin() as conn:
        subs.upsert(conn, "a@example.org", now=tuesday)
    code, out = cli(tuesday, "publish", "--site", tmp_path)
    assert "first issue not due" in out and server.messages == []
    code, out = cli(tuesday, "digest", "send", "--site", tmp_path)
    assert code == 0 and "digest #1: 1 sent" in out, out


def test_a_back_dated_import_is_held_back_reported_and_sent_on_request(
    tmp_path: Path, server: SMTPTestServer
) -> None:
    make_site(tmp_path, port=server.port, subscribers=1)
    code, out = cli(NOW, "digest", "send", "--site", tmp_path)
    assert code == 0, out
    add_posts(
        tmp_path,
        [
            ("2019-03-01", "From the old blog", []),
            ("2019-03-02", "Also from the old blog", []),
            ("2026-11-25", "A new one", []),
        ],
    )
    held = (
        '2 older posts held back (already older than first_window_days when first seen): "From '
        'the old blog" (2019-03-01), "Also from the old blog" (2019-03-02); '
        "`fieldfeed digest send --include-old` sends them now"
    )
    code, out = cli(NOW + timedelta(days=3), "digest", "preview", "--site", tmp_path)
    assert code == 0 and "issue #2 for" in out and held in out, out
    code, out = cli(NEXT_MONDAY, "publish", "--site", tmp_path)
    assert code == 0 and "digest #2: 1 sent" in out and held in out, out
    second = texts(server)[1]
    assert "A new one" in second and "old blog" not in second
    code, out = cli(NEXT_MONDAY + timedelta(hours=1), "digest", "send", "--site", tmp_path)
    assert "no new posts since issue #2" in out and held in out
    code, out = cli(
        NEXT_MONDAY + timedelta(hours=1), "digest", "send", "--include-old", "--site", tmp_path
    )
    assert code == 0 and "digest #3: 1 sent" in out and "held back" not in out, out
    third = texts(server)[2]
    assert "From the old blog" in third and "Also from the old blog" in third


def test_the_first_issue_leaves_the_archive_out_without_reporting_it(
    tmp_path: Path, server: SMTPTestServer
) -> None:
    make_site(tmp_path, port=server.port, subscribers=1)
    add_posts(tmp_path, [("2024-01-01", "An old post of the archive", [])])
    code, out = cli(NOW, "digest", "send", "--site", tmp_path)
    assert code == 0 and "digest #1: 1 sent" in out and "held back" not in out, out
    assert "An old post of the archive" not in texts(server)[0]
    code, out = cli(NEXT_MONDAY, "publish", "--site", tmp_path)
    assert "no new posts since issue #1" in out and "held back" not in out, out


def test_a_test_send_tells_the_truth_about_waiting_posts(
    tmp_path: Path, server: SMTPTestServer
) -> None:
    make_site(tmp_path, port=server.port, subscribers=1)
    code, out = cli(NOW, "digest", "send", "--site", tmp_path)
    assert code == 0, out
    code, out = cli(NOW, "digest", "send", "--to", "me@example.org", "--site", tmp_path)
    assert (
        out.strip() == "nothing to test: no new posts since issue #1"
    )  # was: "in the last 30 days"
    add_posts(tmp_path, [("2026-11-22", "Late but not lost", [])])  # dated before issue #1
    code, out = cli(NOW, "digest", "send", "--to", "me@example.org", "--site", tmp_path)
    assert code == 0 and "test copy of issue #2 sent to me@example.org" in out, out
    assert "Late but not lost" in texts(server)[-1]


def test_first_joined_is_the_earliest_active_subscriber(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path}/db.sqlite")
    with engine.begin() as conn:
        assert subs.first_joined(conn) is None
        subs.upsert(conn, "old@example.org", status="unsubscribed", now=NOW - timedelta(days=9))
        subs.upsert(conn, "b@example.org", now=NOW)
        subs.upsert(conn, "a@example.org", now=NOW - timedelta(days=1))
        assert subs.first_joined(conn) == NOW - timedelta(days=1)
        assert subs.first_joined(conn).tzinfo is not None  # type: ignore[union-attr]


def test_the_posts_of_issues_frozen_before_the_upgrade_count_as_sent(
    tmp_path: Path, server: SMTPTestServer
) -> None:
    """Migration 2 fills post_marks from the issues an older version froze."""
    import sqlalchemy as sa

    settings = make_site(tmp_path, port=server.port, subscribers=1)
    code, out = cli(NOW, "digest", "send", "--site", tmp_path)
    assert code == 0, out
    engine = open_store(settings.database_url)
    with engine.begin() as conn:  # back to a version-1 database
        conn.execute(sa.text("DROP TABLE post_marks"))
        conn.execute(sa.text("UPDATE schema_version SET version = 1"))
    engine.dispose()
    add_posts(tmp_path, [("2026-11-23", "After the upgrade", [])])
    code, out = cli(NEXT_MONDAY, "publish", "--site", tmp_path)
    assert code == 0 and "digest #2: 1 sent" in out, out
    second = texts(server)[1]
    assert "After the upgrade" in second and "Go channels" not in second
    assert "Go channels in anger" in texts(server)[0]
