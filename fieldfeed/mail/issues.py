"""Choosing an issue's posts. Pure: no IO, no clock.

The rule (PRODUCT.md): every published post that was in no earlier issue goes into the next
one, whatever its date. Which posts earlier issues dealt with comes from the store's post
marks (:mod:`fieldfeed.store.postmarks`), not from dates: a post dated before the last issue
but published after it (a date-only file added on digest day after the send, a post given an
earlier date) is still new.

- ``max_posts`` caps an issue. The oldest new posts go first and the rest are *carried*: marked
  so, they go into the next issue whatever their age, so a busy month delays posts but never
  drops one (newest-first selection would starve the oldest under a steady overflow).
- Only the first issue is limited by ``first_window_days``: posts older than that window when
  the first issue is frozen are the archive the list starts with, never mailed, never reported.
- A post first seen later but already older than the window (a back-dated import: its date is
  before the previous issue minus ``first_window_days``) is *held back*: reported by
  ``publish`` and ``digest preview``, and sent only with ``include_old``
  (``digest send --include-old`` or ``[digest] include_old = true``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fieldfeed.model import Post, Subscriber
from fieldfeed.store.postmarks import PostMark

__all__ = [
    "IssuePlan",
    "NewPosts",
    "PostHistory",
    "issue_marks",
    "new_posts",
    "plan_issue",
    "posts_for",
    "window_start",
]


@dataclass(frozen=True, slots=True)
class PostHistory:
    """The post marks indexed three ways, so a post whose id changed is still recognised.

    A post is found by its id, else by its source file (a new ``id:``), else by its title and
    date (a renamed file: new slug, new permalink, new id). A later mark wins over an earlier.
    """

    by_id: dict[str, PostMark] = field(default_factory=dict)
    by_source: dict[str, PostMark] = field(default_factory=dict)
    by_title_date: dict[tuple[str, datetime], PostMark] = field(default_factory=dict)
    #: True once the archive the list started with is recorded (the first issue under this rule).
    baseline: bool = False
    #: Every mark, as loaded.
    marks: tuple[PostMark, ...] = ()

    @classmethod
    def from_marks(cls, marks: Iterable[PostMark]) -> PostHistory:
        history = cls(marks=tuple(marks))
        for mark in history.marks:
            if mark.status == "baseline":
                continue
            history.by_id[mark.post_id] = mark
            history.by_source[mark.source] = mark
            if mark.date is not None:
                history.by_title_date[(mark.title, mark.date)] = mark
        baseline = any(m.status == "baseline" for m in history.marks)
        return dataclasses.replace(history, baseline=baseline)

    def find(self, post: Post) -> PostMark | None:
        """The mark of ``post`` (or of the same post under an earlier id), or None."""
        return (
            self.by_id.get(post.id)
            or self.by_source.get(post.source)
            or self.by_title_date.get((post.title, post.date))
        )


@dataclass(frozen=True, slots=True)
class NewPosts:
    """The published posts sorted by :func:`new_posts`, each oldest first."""

    #: In no earlier issue and due in the next one (carried posts included).
    new: tuple[Post, ...]
    #: Older than the window when first seen: waiting for ``include_old``.
    held: tuple[Post, ...]
    #: Older than the window when the list began (only before the first issue).
    archive: tuple[Post, ...]


def window_start(last_created: datetime | None, now: datetime, first_window_days: int) -> datetime:
    """Posts first seen dated after this are new: the window before the previous issue (or
    before ``now`` for the first issue). Reaching back from the previous issue, not from
    ``now``, keeps a post published just after an issue new however long the schedule."""
    return (last_created or now) - timedelta(days=first_window_days)


def new_posts(
    posts: Iterable[Post],
    history: PostHistory,
    *,
    since: datetime,
    now: datetime,
    include_old: bool = False,
) -> NewPosts:
    """Which published posts are new for the next issue, held back, or the starting archive.

    The one place that decides "which posts are new": digests and per-post mail both call it.
    ``since`` is :func:`window_start`; posts dated after ``now`` are not published yet.
    """
    new: list[Post] = []
    held: list[Post] = []
    archive: list[Post] = []
    for post in posts:
        if post.date > now:
            continue
        mark = history.find(post)
        status = mark.status if mark is not None else None
        if status in ("sent", "archive"):
            continue
        if status == "carried" or (status is None and post.date > since):
            new.append(post)
        elif status is None and not history.baseline:
            archive.append(post)
        elif include_old:
            new.append(post)
        else:
            held.append(post)
    return NewPosts(_oldest_first(new), _oldest_first(held), _oldest_first(archive))


def _oldest_first(posts: Iterable[Post]) -> tuple[Post, ...]:
    return tuple(sorted(posts, key=lambda p: (p.date, p.id)))


@dataclass(frozen=True, slots=True)
class IssuePlan:
    """What the next issue would hold; nothing is written until it is frozen."""

    number: int
    cutoff: datetime
    #: Newest first, at most max_posts.
    posts: tuple[Post, ...]
    #: New posts left out by max_posts: marked carried, they go first into the next issue.
    carried: tuple[Post, ...] = ()
    #: Posts held back (older than the window when first seen), oldest first.
    held: tuple[Post, ...] = ()
    #: The archive the list starts with (first issue only): marked, never mailed.
    archive: tuple[Post, ...] = ()

    @property
    def left_out(self) -> int:
        """How many new posts max_posts left for the next issue."""
        return len(self.carried)


def plan_issue(
    posts: Iterable[Post],
    history: PostHistory,
    *,
    last_number: int,
    last_created: datetime | None,
    now: datetime,
    max_posts: int,
    first_window_days: int,
    include_old: bool = False,
) -> IssuePlan | None:
    """The next issue, or None when no post is new (see :func:`new_posts`)."""
    found = new_posts(
        posts,
        history,
        since=window_start(last_created, now, first_window_days),
        now=now,
        include_old=include_old,
    )
    limit = max(max_posts, 1)
    chosen = found.new[:limit]
    if not chosen:
        return None
    newest_first = tuple(reversed(chosen))
    return IssuePlan(
        last_number + 1, now, newest_first, found.new[limit:], found.held, found.archive
    )


def issue_marks(
    plan: IssuePlan, history: PostHistory
) -> tuple[tuple[PostMark, ...], tuple[int, ...]]:
    """The marks freezing ``plan`` writes, and the rows they replace.

    Sent posts, carried ones, newly held ones and (at the first issue under this rule) the
    archive and the baseline marker.
    """
    marks: list[PostMark] = []
    replaces: list[int] = []

    def mark(post: Post, status: str) -> None:
        old = history.find(post)
        if old is not None and old.status == status == "held":
            return
        if old is not None and old.row is not None:
            replaces.append(old.row)
        marks.append(PostMark(post.id, post.source, post.title, post.date, plan.number, status))

    for post in plan.posts:
        mark(post, "sent")
    for post in plan.carried:
        mark(post, "carried")
    for post in plan.held:
        mark(post, "held")
    for post in plan.archive:
        mark(post, "archive")
    if not history.baseline:
        marks.append(PostMark("", "", "", None, plan.number, "baseline"))
    return tuple(marks), tuple(replaces)


def posts_for(subscriber: Subscriber, posts: Sequence[Post]) -> tuple[Post, ...]:
    """The issue's posts this subscriber's tag filter lets through (empty: no mail)."""
    return tuple(p for p in posts if subscriber.wants(p))
