"""Choosing an issue's posts. Pure: no IO, no clock.

An issue covers the posts published in ``(previous cutoff, now]``: at most ``max_posts``,
newest first. The first issue has no previous cutoff and covers the last
``first_window_days``. The cutoff of the new issue is ``now``, so a post that ``max_posts``
leaves out is not carried to the next issue (the next one starts where this one ended).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from fieldfeed.model import Post, Subscriber


@dataclass(frozen=True, slots=True)
class IssuePlan:
    """What the next issue would hold; nothing is written until it is frozen."""

    number: int
    #: Posts published in (since, cutoff] belong to this issue.
    since: datetime
    cutoff: datetime
    #: Newest first, at most max_posts.
    posts: tuple[Post, ...]
    #: Posts in the window left out by max_posts.
    left_out: int


def choose_posts(
    posts: Iterable[Post],
    *,
    previous_cutoff: datetime | None,
    now: datetime,
    max_posts: int,
    first_window_days: int,
) -> tuple[tuple[Post, ...], datetime, int]:
    """The posts for an issue ending at ``now``: (posts newest first, window start, left out)."""
    since = previous_cutoff if previous_cutoff else now - timedelta(days=first_window_days)
    window = sorted(
        (p for p in posts if since < p.date <= now), key=lambda p: (p.date, p.id), reverse=True
    )
    limit = max(max_posts, 1)
    return tuple(window[:limit]), since, max(len(window) - limit, 0)


def plan_issue(
    posts: Iterable[Post],
    *,
    last_number: int,
    previous_cutoff: datetime | None,
    now: datetime,
    max_posts: int,
    first_window_days: int,
) -> IssuePlan | None:
    """The next issue, or None when no post was published since the previous cutoff."""
    chosen, since, left_out = choose_posts(
        posts,
        previous_cutoff=previous_cutoff,
        now=now,
        max_posts=max_posts,
        first_window_days=first_window_days,
    )
    if not chosen:
        return None
    return IssuePlan(last_number + 1, since, now, chosen, left_out)


def posts_for(subscriber: Subscriber, posts: Sequence[Post]) -> tuple[Post, ...]:
    """The issue's posts this subscriber's tag filter lets through (empty: no mail)."""
    return tuple(p for p in posts if subscriber.wants(p))
