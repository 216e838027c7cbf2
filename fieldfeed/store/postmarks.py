"""Which posts the newsletter has dealt with: sent in an issue, carried, held back, archive.

The digest's rule ("every published post that was in no earlier issue goes into the next
one") needs the posts earlier issues sent. Reading them back from every issue's frozen JSON
would read every post's HTML of hundreds of issues on each run; this table holds one short
row per post instead (10,000 posts: a few MB, read in one query). Written in the transaction
that freezes an issue, so a rolled-back freeze marks nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fieldfeed.store.schema import post_marks

__all__ = ["STATUSES", "PostMark", "load_marks", "record_marks"]

#: sent: in issue ``issue``; carried: left out of it by max_posts, due next; held: older than
#: the window when first seen; archive: older than the window when the list began; baseline:
#: the marker row (no post) saying the archive was recorded at issue ``issue``.
STATUSES = ("sent", "carried", "held", "archive", "baseline")


@dataclass(frozen=True, slots=True)
class PostMark:
    """One post's standing with the newsletter (or the baseline marker: empty post fields)."""

    post_id: str
    source: str
    title: str
    date: datetime | None
    issue: int
    status: str
    #: The row's key once stored (None for a mark not written yet).
    row: int | None = None


def load_marks(conn: Connection) -> tuple[PostMark, ...]:
    """Every mark, oldest row first (a later row for the same post wins when indexed)."""
    query = sa.select(post_marks).order_by(post_marks.c.id)
    return tuple(
        PostMark(r.post_id, r.source, r.title, r.date, r.issue, r.status, r.id)
        for r in conn.execute(query)
    )


def record_marks(conn: Connection, marks: Sequence[PostMark], replaces: Sequence[int]) -> None:
    """Write ``marks`` and delete the rows ``replaces`` (a carried post now sent, say).

    Call inside the transaction that freezes the issue.
    """
    for start in range(0, len(replaces), 500):
        chunk = list(replaces[start : start + 500])
        conn.execute(sa.delete(post_marks).where(post_marks.c.id.in_(chunk)))
    rows = [
        {
            "post_id": m.post_id,
            "source": m.source,
            "title": m.title,
            "date": m.date,
            "issue": m.issue,
            "status": m.status,
        }
        for m in marks
    ]
    if rows:
        conn.execute(sa.insert(post_marks), rows)
