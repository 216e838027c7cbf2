"""``serve`` on a damaged state database (issue 7, item 12): a real SQLite file with a page
overwritten, and an archive with unreadable rows, over real HTTP."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from serve_helpers import serve_in_thread, serve_process
from test_web import make_post

from fieldfeed.config import Settings, load_settings
from fieldfeed.model import Issue
from fieldfeed.store import issues as stored_issues
from fieldfeed.store import open_store
from fieldfeed.store import subscribers as subs
from fieldfeed.web.app import create_app
from fieldfeed.web.services import WebServices

SECRET = "test-secret-" + "x" * 40
ENV = {"FIELDFEED_SECRET": SECRET}
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def make_site(root: Path) -> Settings:
    (root / "public").mkdir(parents=True)
    (root / "public" / "rss.xml").write_bytes(b'<?xml version="1.0"?><rss version="2.0"/>')
    (root / "fieldfeed.toml").write_text(
        """\
[site]
title = "Test Notes"
url = "https://notes.example.org/"
timezone = "Europe/Berlin"

[digest]
from = "Test Notes <news@notes.example.org>"
unsubscribe_url = "https://notes.example.org/u/"
""",
        encoding="utf-8",
    )
    return load_settings(root)


def corrupt_index_page(settings: Settings) -> Path:
    """Fill a real database, close it, then overwrite the root page of the subscribers'
    email index with garbage (as a failing disk or a bad copy would)."""
    engine = open_store(settings.database_url)
    with engine.begin() as conn:
        for i in range(500):
            subs.upsert(conn, f"reader{i}@example.org", status="active", now=NOW)
    engine.dispose()  # the last connection checkpoints the WAL into the file
    path = Path(sa.make_url(settings.database_url).database or "")
    with sqlite3.connect(path) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        (root_page,) = db.execute(
            "SELECT rootpage FROM sqlite_master WHERE tbl_name = 'subscribers' AND type = 'index'"
        ).fetchone()
    db.close()
    assert not path.with_name(path.name + "-wal").exists()
    with open(path, "r+b") as f:
        f.seek((root_page - 1) * page_size + 8)
        f.write(b"\xff" * 256)
    return path


def test_a_corrupt_page_gives_503_one_line_errors_and_a_truthful_health(tmp_path: Path) -> None:
    settings = make_site(tmp_path / "site")
    corrupt_index_page(settings)
    with serve_process(settings.root, ENV) as srv, httpx.Client(base_url=srv.base) as http:
        health = http.get("/health")
        assert health.status_code == 503 and health.json()["database"] is False  # was 200
        r = http.post("/subscribe", data={"email": "new@example.org"})
        assert r.status_code == 503 and "not available right now" in r.text  # was 500
        assert http.get("/rss.xml").status_code == 200  # the feeds need no database
    log = srv.log()
    assert "Traceback" not in log
    # serve says at start, in one line, what is wrong; each failed request is one line too.
    assert "warning: state database: integrity check failed: " in log
    assert "POST /subscribe: state database: DatabaseError: database disk image is malformed" in (
        log
    )
    assert "new@example.org" not in log  # SQLAlchemy's message would carry the parameters


def freeze(settings: Settings, number: int) -> None:
    created = NOW - timedelta(days=7 * (5 - number))
    issue = Issue(number=number, cutoff=created, created=created, posts=(make_post(number, "Go"),))
    engine = open_store(settings.database_url)
    with engine.begin() as conn:
        stored_issues.insert_issue(conn, issue, [])


@pytest.mark.parametrize(
    ("column", "value"),
    [("posts", "{not json"), ("posts", '[{"title": "no other keys"}]'), ("created", "garbage")],
)
def test_one_bad_archive_row_is_skipped_and_logged(
    tmp_path: Path, column: str, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_site(tmp_path / "site")
    for number in (1, 2, 3):
        freeze(settings, number)
    engine = open_store(settings.database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE issues SET {column} = ? WHERE number = 2", (value,))
    app = create_app(settings, WebServices(settings=settings, secret=SECRET.encode()))
    with serve_in_thread(app) as base, httpx.Client(base_url=base) as http:
        r = http.get("/archive/")
        assert r.status_code == 200  # was 500 for every visitor
        assert 'href="/archive/3/"' in r.text and 'href="/archive/1/"' in r.text
        assert 'href="/archive/2/"' not in r.text
        assert http.get("/archive/2/").status_code == 404
        assert http.get("/archive/1/").status_code == 200
    assert "archive: issue 2 cannot be read, left out: " in caplog.text
    assert "Traceback" not in caplog.text
