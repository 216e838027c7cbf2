"""The send ledger: one row per (issue, subscriber), written before anything is sent.

Status moves ``pending -> sending -> sent | failed`` (or ``skipped`` at freeze time when a tag
filter leaves a subscriber nothing). ``sending`` is committed before the message is handed to
the transport, so after a crash the rows still in ``sending`` are exactly the messages that
may or may not have reached the relay: at most one per connection.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from fieldfeed.store import subscribers as subs
from fieldfeed.store.schema import deliveries as t
from fieldfeed.store.schema import subscribers as subs_table


@dataclass(frozen=True, slots=True)
class Delivery:
    """A ledger row."""

    id: int
    issue: int
    subscriber: int
    email: str
    variant: int | None
    status: str
    attempts: int
    last_reply: str
    message_id: str


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A row to write when an issue is frozen."""

    subscriber: int
    email: str
    variant: int | None  #: None: skipped (the tag filter leaves nothing)
    message_id: str


@dataclass(frozen=True, slots=True)
class Finish:
    """The outcome of one message, as the sender records it."""

    delivery: Delivery
    status: str  #: "sent", "failed" or "pending" (given up on a connection, not sent)
    attempts: int
    reply: str
    #: A 5xx: counts toward the subscriber's consecutive bounces.
    hard_bounce: bool = False


def _row(r: Any) -> Delivery:
    return Delivery(
        r.id,
        r.issue,
        r.subscriber,
        r.email,
        r.variant,
        r.status,
        r.attempts,
        r.last_reply,
        r.message_id,
    )


def insert(conn: Connection, issue: int, rows: Iterable[NewDelivery], now: datetime) -> int:
    """Write the ledger rows of a freshly frozen issue; returns how many."""
    values = [
        {
            "issue": issue,
            "subscriber": r.subscriber,
            "email": r.email,
            "variant": r.variant,
            "status": "pending" if r.variant is not None else "skipped",
            "attempts": 0,
            "last_reply": "" if r.variant is not None else "no post matches the tag filter",
            "message_id": r.message_id,
            "updated": now,
        }
        for r in rows
    ]
    if values:
        conn.execute(sa.insert(t), values)
    return len(values)


def unfinished(
    conn: Connection, issue: int, *, after_id: int = 0, limit: int | None = None
) -> list[Delivery]:
    """Rows still to send (pending, and sending = in flight at a crash), in ledger order.

    ``after_id``/``limit`` page through a large issue without holding it all in memory.
    """
    query = (
        sa.select(t)
        .where(t.c.issue == issue, t.c.status.in_(("pending", "sending")), t.c.id > after_id)
        .order_by(t.c.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return [_row(r) for r in conn.execute(query)]


def rows(conn: Connection, issue: int, status: str | None = None) -> list[Delivery]:
    query = sa.select(t).where(t.c.issue == issue).order_by(t.c.id)
    if status:
        query = query.where(t.c.status == status)
    return [_row(r) for r in conn.execute(query)]


def counts(conn: Connection, issue: int) -> dict[str, int]:
    query = sa.select(t.c.status, sa.func.count()).where(t.c.issue == issue).group_by(t.c.status)
    return {status: int(n) for status, n in conn.execute(query)}


def attempted(conn: Connection, issue: int) -> bool:
    """Whether any message of this issue was tried before (so this run resumes it)."""
    query = sa.select(t.c.id).where(t.c.issue == issue, t.c.attempts > 0).limit(1)
    return conn.execute(query).first() is not None


def skip(conn: Connection, delivery_id: int, reason: str, now: datetime) -> None:
    """Mark a row skipped (e.g. the subscriber left between freezing and sending)."""
    conn.execute(
        sa.update(t)
        .where(t.c.id == delivery_id)
        .values(status="skipped", last_reply=reason, updated=now)
    )


# Built once: SQLAlchemy memoises a statement's cache key on the object, so reusing these
# keeps the per-message cost to the database work itself.
_FINISH = (
    sa.update(t)
    .where(t.c.id == sa.bindparam("row"))
    .values(
        status=sa.bindparam("status"),
        attempts=sa.bindparam("attempts"),
        last_reply=sa.bindparam("reply"),
        updated=sa.bindparam("now"),
    )
)
_CLAIM = (
    sa.update(t)
    .where(t.c.id == sa.bindparam("row"))
    .values(status="sending", updated=sa.bindparam("now"))
)


class Ledger:
    """Thread-safe ledger writes for the sender: one short transaction per step.

    A step may record one outcome *and* claim the next message together, so a message costs
    one commit, while every message is still marked ``sending`` before the transport sees it.
    A success does not touch the subscriber row (see :func:`reset_bounces`); a hard bounce
    does, in the same commit.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        # One connection for every step (no pool checkout per message); the lock keeps it
        # to one thread at a time.
        self._conn: Connection | None = None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def step(
        self, *, finish: Finish | None = None, claim: Delivery | None = None, now: datetime
    ) -> bool:
        """Record ``finish`` and/or mark ``claim`` as sending, in one commit.

        Returns True when this outcome made the subscriber ``bounced``.
        """
        with self._lock:
            if self._conn is None:
                self._conn = self.engine.connect()
            conn = self._conn
            with conn.begin():
                return self._write(conn, finish, claim, now)

    @staticmethod
    def _write(
        conn: Connection, finish: Finish | None, claim: Delivery | None, now: datetime
    ) -> bool:
        bounced = False
        if finish is not None:
            conn.execute(
                _FINISH,
                {
                    "row": finish.delivery.id,
                    "status": finish.status,
                    "attempts": finish.attempts,
                    "reply": finish.reply[:1000],
                    "now": now,
                },
            )
            if finish.status == "failed" and finish.hard_bounce:
                bounced = subs.record_outcome(conn, finish.delivery.subscriber, hard_bounce=True)
        if claim is not None:
            conn.execute(_CLAIM, {"row": claim.id, "now": now})
        return bounced


def reset_bounces(conn: Connection, issue: int) -> None:
    """Clear the consecutive-bounce count of everyone this issue reached.

    Done once per run rather than per message (it is a write per recipient otherwise); a
    crash before it only delays the reset to the rerun, which calls it again.
    """
    delivered = sa.select(t.c.subscriber).where(t.c.issue == issue, t.c.status == "sent")
    conn.execute(
        sa.update(subs_table)
        .where(subs_table.c.id.in_(delivered), subs_table.c.consecutive_bounces > 0)
        .values(consecutive_bounces=0)
    )
