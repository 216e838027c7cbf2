"""Frozen issues: the posts and their renderings, stored before the first message is sent."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fieldfeed.model import Issue
from fieldfeed.store.postjson import dump_posts, load_posts
from fieldfeed.store.schema import issue_renders, issues


@dataclass(frozen=True, slots=True)
class IssueRow:
    """An issue's bookkeeping, without its posts."""

    number: int
    cutoff: datetime
    created: datetime
    status: str  #: "open" or "complete"


@dataclass(frozen=True, slots=True)
class Variant:
    """One rendering of an issue for one subset of its posts (tag filters make several)."""

    number: int
    post_ids: tuple[str, ...]
    #: The renderer's fields as JSON-able values (see mail.freezing.rendered_to_dict).
    rendered: dict[str, Any]


def last_issue(conn: Connection) -> IssueRow | None:
    """The newest issue, open or complete."""
    row = conn.execute(sa.select(issues).order_by(issues.c.number.desc()).limit(1)).first()
    return IssueRow(row.number, row.cutoff, row.created, row.status) if row else None


def open_issue(conn: Connection) -> IssueRow | None:
    """The oldest unfinished issue: it is finished before any new one starts."""
    row = conn.execute(
        sa.select(issues).where(issues.c.status == "open").order_by(issues.c.number).limit(1)
    ).first()
    return IssueRow(row.number, row.cutoff, row.created, row.status) if row else None


def previous_cutoff(conn: Connection, number: int) -> datetime | None:
    """The cutoff of the issue before ``number``."""
    value = conn.execute(
        sa.select(issues.c.cutoff)
        .where(issues.c.number < number)
        .order_by(issues.c.number.desc())
        .limit(1)
    ).scalar()
    return value if isinstance(value, datetime) else None


def insert_issue(conn: Connection, issue: Issue, variants: Sequence[Variant]) -> None:
    """Freeze an issue (call inside the transaction that also writes its ledger rows)."""
    conn.execute(
        sa.insert(issues).values(
            number=issue.number,
            cutoff=issue.cutoff,
            created=issue.created,
            posts=dump_posts(issue.posts),
            status="open",
        )
    )
    for v in variants:
        insert_variant(conn, issue.number, v)


def insert_variant(conn: Connection, number: int, variant: Variant) -> None:
    """Store one rendering of issue ``number`` (inside the freezing transaction)."""
    conn.execute(
        sa.insert(issue_renders).values(
            issue=number,
            variant=variant.number,
            post_ids=json.dumps(list(variant.post_ids)),
            rendered=json.dumps(variant.rendered, ensure_ascii=False, sort_keys=True),
        )
    )


def load_variant(conn: Connection, number: int, variant: int) -> Variant:
    row = conn.execute(
        sa.select(issue_renders).where(
            issue_renders.c.issue == number, issue_renders.c.variant == variant
        )
    ).one()
    return Variant(row.variant, tuple(json.loads(row.post_ids)), json.loads(row.rendered))


def load_issue(conn: Connection, number: int) -> tuple[Issue, dict[int, Variant]]:
    """An issue exactly as frozen, with its renderings by variant number."""
    row = conn.execute(sa.select(issues).where(issues.c.number == number)).one()
    issue = Issue(
        number=row.number, cutoff=row.cutoff, created=row.created, posts=load_posts(row.posts)
    )
    variants = {
        r.variant: Variant(r.variant, tuple(json.loads(r.post_ids)), json.loads(r.rendered))
        for r in conn.execute(sa.select(issue_renders).where(issue_renders.c.issue == number))
    }
    return issue, variants


def complete(conn: Connection, number: int, now: datetime) -> None:
    conn.execute(
        sa.update(issues).where(issues.c.number == number).values(status="complete", completed=now)
    )
