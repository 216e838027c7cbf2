"""The state store on a real SQLite file: migrations, pragmas, subscribers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from fieldfeed.errors import StateError
from fieldfeed.store import open_store, schema
from fieldfeed.store import subscribers as subs
from fieldfeed.store.engine import migrate

NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/state/sub/fieldfeed.db"


def test_open_creates_parent_dir_and_latest_schema(tmp_path: Path) -> None:
    engine = open_store(_url(tmp_path))
    assert (tmp_path / "state/sub/fieldfeed.db").exists()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM schema_version")).scalar() == schema.LATEST
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        names = set(sa.inspect(conn).get_table_names())
    assert {"subscribers", "issues", "issue_renders", "deliveries", "schema_version"} <= names
    # Opening again is a no-op migration.
    assert migrate(open_store(_url(tmp_path))) == schema.LATEST


def test_newer_database_is_refused(tmp_path: Path) -> None:
    engine = open_store(_url(tmp_path))
    with engine.begin() as conn:
        conn.execute(sa.update(schema.schema_version).values(version=schema.LATEST + 1))
    with pytest.raises(StateError, match="newer than this fieldfeed"):
        open_store(_url(tmp_path))


def test_email_validation_and_normalisation() -> None:
    assert subs.normalize_email("  Ann@Example.ORG ") == "Ann@example.org"
    for bad in ("", "no-at-sign", "a@b@c.org", "ann@example.org\r\nBcc: x@y.org"):
        with pytest.raises(subs.InvalidSubscriber):
            subs.normalize_email(bad)
    with pytest.raises(subs.InvalidSubscriber, match="control characters"):
        subs.clean_name("Ann\r\nBcc: evil@example.org")
    assert subs.parse_tags("Distributed Systems, distributed-systems,  Go ,") == (
        "distributed-systems",
        "go",
    )


def test_upsert_is_case_insensitive_and_keeps_unset_fields(tmp_path: Path) -> None:
    engine = open_store(_url(tmp_path))
    sub, what = subs.upsert(engine, "Ann@Example.org", name="Ann", tags=["Go"], now=NOW)
    assert what == "added" and sub.status == "active" and sub.tags == ("go",)
    assert sub.created == NOW and sub.created.tzinfo is not None
    again, what = subs.upsert(engine, "ann@example.org", now=NOW)
    assert again.id == sub.id and again.name == "Ann" and again.tags == ("go",)
    assert what == "updated"  # the spelling of the local part changed
    assert subs.upsert(engine, "ann@example.org", now=NOW)[1] == "unchanged"
    assert len(subs.list_all(engine)) == 1


def test_unsubscribe_purge_and_bounce_counting(tmp_path: Path) -> None:
    engine = open_store(_url(tmp_path))
    ann, _ = subs.upsert(engine, "ann@example.org", now=NOW)
    bob, _ = subs.upsert(engine, "bob@example.org", now=NOW)
    assert subs.unsubscribe(engine, "ANN@example.org", now=NOW) is not None
    assert [s.email for s in subs.list_all(engine, "active")] == ["bob@example.org"]
    assert subs.get(engine, "ann@example.org").status == "unsubscribed"  # type: ignore[union-attr]
    with engine.begin() as conn:
        assert subs.record_outcome(conn, bob.id, hard_bounce=True) is False
        subs.record_outcome(conn, bob.id, hard_bounce=False)  # a success in between resets
        assert subs.record_outcome(conn, bob.id, hard_bounce=True) is False
        assert subs.record_outcome(conn, bob.id, hard_bounce=True) is True
    assert subs.get_by_id(engine, bob.id).status == "bounced"  # type: ignore[union-attr]
    assert subs.purge(engine, "ann@example.org") is True
    assert subs.purge(engine, "ann@example.org") is False
    assert subs.get_by_id(engine, ann.id) is None
