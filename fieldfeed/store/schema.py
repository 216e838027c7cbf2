"""Tables and numbered schema migrations.

``TABLES`` describes the current schema for queries. ``MIGRATIONS`` rebuilds it step by step
from nothing; each step is frozen once released (a new column is a new step, never an edit of
an old one), so a database made by any earlier version upgrades in place.
Why not alembic: one extra dependency and a migrations folder for what is, so far, a list of
a few DDL functions; ``schema_version`` is the same idea alembic's ``alembic_version`` is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC. SQLite keeps no offsets, so naive means UTC on read."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware one")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata, sa.Column("version", sa.Integer, nullable=False)
)

subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    #: normalised by email-validator (domain lowercased, IDNA); shown and mailed as is
    sa.Column("email", sa.String(320), nullable=False),
    #: lower-cased ``email``: the uniqueness key, since nobody treats local parts as case-sensitive
    sa.Column("email_key", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    #: comma-separated tag slugs; empty means every post
    sa.Column("tags", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created", UTCDateTime, nullable=False),
    sa.Column("confirmed", UTCDateTime),
    sa.Column("unsubscribed_at", UTCDateTime),
    #: 5xx rejections on consecutive issues; two in a row make the address ``bounced``
    sa.Column("consecutive_bounces", sa.Integer, nullable=False, server_default="0"),
)

issues = sa.Table(
    "issues",
    metadata,
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("cutoff", UTCDateTime, nullable=False),
    sa.Column("created", UTCDateTime, nullable=False),
    #: JSON list of every field of every Post, newest first (see store.issues)
    sa.Column("posts", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open | complete
    sa.Column("completed", UTCDateTime),
)

#: One rendering per distinct set of posts (tag filters make several per issue).
issue_renders = sa.Table(
    "issue_renders",
    metadata,
    sa.Column("issue", sa.ForeignKey("issues.number", ondelete="CASCADE"), primary_key=True),
    sa.Column("variant", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("post_ids", sa.Text, nullable=False),  # JSON list
    sa.Column("rendered", sa.Text, nullable=False),  # JSON object: the RenderedIssue fields
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("issue", sa.ForeignKey("issues.number", ondelete="CASCADE"), nullable=False),
    sa.Column("subscriber", sa.ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
    #: the address at freeze time, so a summary can name a recipient
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("variant", sa.Integer),  # issue_renders.variant; NULL when skipped
    sa.Column("status", sa.String(16), nullable=False),  # pending|sending|sent|failed|skipped
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_reply", sa.Text, nullable=False, server_default=""),
    sa.Column("message_id", sa.String(300), nullable=False),
    sa.Column("updated", UTCDateTime, nullable=False),
    sa.UniqueConstraint("issue", "subscriber", name="uq_deliveries_issue_subscriber"),
    sa.Index("ix_deliveries_issue_status", "issue", "status"),
)


#: Where each post stands with the newsletter: in an issue ("sent"), left out of one by
#: ``max_posts`` and due in the next ("carried"), older than the window when first seen
#: ("held", until ``include_old``), or part of the archive the list started with ("archive").
#: One "baseline" row (no post) marks the issue at which the archive was recorded. A post is
#: found by its id, else its source file, else its title and date, so a post whose id changed
#: (a renamed file, a new ``id:``) is not mailed again. See fieldfeed.mail.issues.
post_marks = sa.Table(
    "post_marks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("post_id", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("date", UTCDateTime),
    sa.Column("issue", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # sent|carried|held|archive|baseline
    sa.Index("ix_post_marks_post_id", "post_id"),
)


def _v1(conn: Connection) -> None:
    """The first schema: subscribers, issues, renderings, the ledger."""
    for table in (subscribers, issues, issue_renders, deliveries):
        table.create(conn)


def _v2(conn: Connection) -> None:
    """post_marks, filled from the posts every existing issue froze (one issue at a time)."""
    import json

    post_marks.create(conn)
    numbers = conn.execute(sa.select(issues.c.number).order_by(issues.c.number)).scalars()
    for number in list(numbers):
        text = conn.execute(sa.select(issues.c.posts).where(issues.c.number == number)).scalar()
        rows = [
            {
                "post_id": p["id"],
                "source": p["source"],
                "title": p["title"],
                "date": datetime.fromisoformat(p["date"]),
                "issue": number,
                "status": "sent",
            }
            for p in json.loads(text or "[]")
        ]
        if rows:
            conn.execute(sa.insert(post_marks), rows)


Migration = Callable[[Connection], Any]

#: (version, what it does, function). Append only.
MIGRATIONS: tuple[tuple[int, str, Migration], ...] = (
    (1, "initial schema", _v1),
    (2, "post_marks: which posts each issue sent, carried or held back", _v2),
)

LATEST = MIGRATIONS[-1][0]
