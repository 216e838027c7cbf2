"""Connect to the state database, set SQLite up for a crash-safe ledger, apply migrations."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from fieldfeed.errors import FieldfeedError, StateError
from fieldfeed.statefiles import create_private_file
from fieldfeed.store import schema

log = logging.getLogger(__name__)

#: How long a writer waits for another one (ms) before SQLite reports "database is locked".
BUSY_TIMEOUT_MS = 30_000


def open_store(url: str) -> Engine:
    """An Engine on ``url`` with the schema at the latest version. Raises StateError.

    For SQLite the parent folder is created; WAL, busy_timeout and foreign keys are on.
    """
    try:
        engine = _create(url)
        migrate(engine)
    except SQLAlchemyError as exc:
        raise StateError(f"state database {_safe(url)}: {database_error_text(exc)}") from None
    return engine


def _create(url: str) -> Engine:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        try:
            return sa.create_engine(url, pool_pre_ping=True)
        except ImportError as exc:  # the URL's driver is not installed (SQLAlchemy imports it)
            raise StateError(
                f"state database {_safe(url)}: its driver is not installed ({exc.name or exc}); "
                + (
                    "install it with: pip install 'fieldfeed[postgres]'"
                    if parsed.get_backend_name() == "postgresql"
                    else "install the Python driver for that database"
                )
            ) from None
    db = parsed.database or ""
    if db and db != ":memory:" and not parsed.query.get("uri"):
        # Made by us first (0600, its folder 0700 if new), the file keeps that mode, and
        # SQLite gives its -wal, -shm and -journal files the same one: subscriber addresses
        # are no business of other users on the machine (sqlite3 would create it 0644).
        create_private_file(Path(db))
    engine = sa.create_engine(url, connect_args={"check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy (not the sqlite3 module) decide when transactions begin, so DDL in a
        # migration is transactional and every transaction can be BEGIN IMMEDIATE (below).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        # WAL: readers never block the writer. synchronous=NORMAL in WAL survives a killed
        # process (the kill -9 case); a power cut may roll back the newest commits, which only
        # turns ledger rows back into pending/sending: a possible resend, never a lost mail.
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Take the write lock at BEGIN: a deferred transaction that later writes can fail with
        # SQLITE_BUSY at once (no busy_timeout wait) when another process committed meanwhile.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def migrate(engine: Engine) -> int:
    """Apply every migration newer than the database's version; return the final version."""
    with engine.begin() as conn:
        schema.schema_version.create(conn, checkfirst=True)
        row = conn.execute(sa.select(schema.schema_version.c.version)).first()
        has_row = row is not None
        current = int(row[0]) if row is not None else 0
        if current > schema.LATEST:
            raise StateError(
                f"state database is at schema version {current}, newer than this fieldfeed "
                f"({schema.LATEST}); upgrade fieldfeed"
            )
        for version, what, step in schema.MIGRATIONS:
            if version <= current:
                continue
            log.info("state: migrating to version %d (%s)", version, what)
            step(conn)
            if not has_row:
                conn.execute(sa.insert(schema.schema_version).values(version=version))
                has_row = True
            else:
                conn.execute(sa.update(schema.schema_version).values(version=version))
            current = version
    return current


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def database_error_text(exc: BaseException) -> str:
    """One line about a database failure: the driver's message, never SQL or parameters
    (SQLAlchemy's own message carries the statement and its parameters: addresses)."""
    if isinstance(exc, FieldfeedError):
        text = str(exc)
    elif isinstance(exc, OSError):
        text = f"{type(exc).__name__}: {exc.strerror or exc}"
    else:
        orig = getattr(exc, "orig", None) or exc
        text = f"{type(orig).__name__}: {orig}"
    return " ".join(text.split())[:300]
