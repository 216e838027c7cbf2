"""The records that flow through fieldfeed: posts and tags.

All datetimes are timezone-aware. Records are frozen so a loaded post can be shared between
the feed builders, the digest and the cache without anyone changing it under the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Tag:
    """A tag as the author spelled it, with the slug that identifies it.

    "Distributed Systems" and "distributed-systems" share one slug and so are one tag; the
    display name is the first spelling met in date order.
    """

    name: str
    slug: str


@dataclass(frozen=True, slots=True)
class Post:
    """One published (or draft/future) post, fully rendered."""

    #: Path of the source file relative to the site root, POSIX style, for messages.
    source: str
    slug: str
    title: str
    #: Publication time, timezone-aware.
    date: datetime
    #: Last update, timezone-aware; equals ``date`` when the post has no ``updated``.
    updated: datetime
    tags: tuple[Tag, ...]
    #: Plain text, no markup.
    summary: str
    #: Full rendered HTML; every link and image src is absolute.
    html: str
    #: Absolute permalink.
    url: str
    #: Stable feed id: the ``id`` front-matter key, else the permalink.
    id: str
    author: str | None
    #: Absolute URL of the post's lead image, if any.
    image: str | None
    draft: bool
    word_count: int
    read_minutes: int

    @property
    def read_time(self) -> str:
        """As shown to readers: "N min read"."""
        return f"{self.read_minutes} min read"

    def has_any_tag(self, slugs: frozenset[str]) -> bool:
        return any(t.slug in slugs for t in self.tags)


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A person on the list. ``tags`` holds tag slugs; empty means every post."""

    id: int
    email: str  #: normalised (domain lowercased), unique
    name: str
    tags: tuple[str, ...]
    status: str  #: "pending", "active", "unsubscribed" or "bounced"
    created: datetime
    confirmed: datetime | None = None

    def wants(self, post: Post) -> bool:
        """Whether this subscriber's tag filter lets ``post`` into their digest."""
        return not self.tags or post.has_any_tag(frozenset(self.tags))


@dataclass(frozen=True, slots=True)
class Issue:
    """A digest issue, frozen before its first send: a resumed send re-reads exactly this."""

    number: int
    #: Posts published in (previous cutoff, cutoff] belong to this issue.
    cutoff: datetime
    created: datetime
    #: Newest first, as rendered when the issue was frozen.
    posts: tuple[Post, ...]
