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


def unsent_posts(
    posts: Iterable[Post], *, held: frozenset[str], floor: datetime, now: datetime
) -> tuple[Post, ...]:
    """Published posts that no earlier issue (digest or per-post) held, oldest first.

    The one place that says which posts are new for per-post mail. ``held`` is every post id
    in an earlier issue; ``floor`` keeps a site's back catalogue out: only posts dated after it
    count (the first issue's ``first_window_days`` window, see :func:`post_floor`).
    """
    return tuple(
        sorted(
            (p for p in posts if p.id not in held and floor < p.date <= now),
            key=lambda p: (p.date, p.id),
        )
    )


def post_floor(first_issue: datetime | None, now: datetime, first_window_days: int) -> datetime:
    """The oldest date a post may have to be mailed: ``first_window_days`` before the site's
    first issue (or before ``now`` when there is none yet)."""
    return (first_issue or now) - timedelta(days=first_window_days)


def plan_post_issue(
    posts: Iterable[Post],
    *,
    last_number: int,
    held: frozenset[str],
    floor: datetime,
    now: datetime,
) -> IssuePlan | None:
    """Per-post mode: the oldest new post as an issue of its own, or None when none is new.

    Each per-post mail is a numbered issue like a digest (same ledger, archive and freezing),
    so a run that finds three new posts freezes and sends three issues, oldest first;
    ``left_out`` counts the new posts still waiting after this one.
    """
    new = unsent_posts(posts, held=held, floor=floor, now=now)
    if not new:
        return None
    return IssuePlan(last_number + 1, floor, now, new[:1], len(new) - 1)
