"""The records that flow through fieldfeed: posts and tags.

All datetimes are timezone-aware. Records are frozen so a loaded post can be shared between
the feed builders, the digest and the cache without anyone changing it under the others.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Tag:
    """A tag as the author spelled it, with the slug that identifies it.

    "Distributed Systems" and "distributed-systems" share one slug and so are one tag; the
    display name is the first spelling met in date order.
    """

    name: str
    slug: str


class StoredBody(Protocol):
    """A post body kept out of memory (see ``buildcache.StoredBody``): ``load()`` returns the
    HTML or raises; it never returns a placeholder."""

    def load(self) -> str: ...


@dataclass(frozen=True, slots=True, init=False, eq=False)
class Post:
    """One published (or draft/future) post, fully rendered.

    The HTML body is held either as text or as a reference into the build cache's body store
    (``Post.with_stored_body``), so a site of 10,000 posts does not keep 10,000 bodies in
    memory when feeds need about a thousand of them. ``html`` reads the same either way; a
    body that cannot be read raises, it never comes back empty. Equality compares the HTML
    text, not how it is held.
    """

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
    #: The body: its HTML text, or a reference read on each access of ``html``.
    _body: str | StoredBody
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

    def __init__(
        self,
        source: str,
        slug: str,
        title: str,
        date: datetime,
        updated: datetime,
        tags: tuple[Tag, ...],
        summary: str,
        *,
        html: str | None = None,
        url: str,
        id: str,
        author: str | None,
        image: str | None,
        draft: bool,
        word_count: int,
        read_minutes: int,
        _body: str | StoredBody | None = None,
    ) -> None:
        # ``html=`` is the public keyword; ``_body`` is what dataclasses.replace passes back
        # (it rebuilds from fields), and an explicit ``html=`` in a replace wins over it.
        body = html if html is not None else _body
        if body is None:
            raise TypeError("Post() missing required keyword argument: 'html'")
        setattr_ = object.__setattr__
        setattr_(self, "source", source)
        setattr_(self, "slug", slug)
        setattr_(self, "title", title)
        setattr_(self, "date", date)
        setattr_(self, "updated", updated)
        setattr_(self, "tags", tags)
        setattr_(self, "summary", summary)
        setattr_(self, "_body", body)
        setattr_(self, "url", url)
        setattr_(self, "id", id)
        setattr_(self, "author", author)
        setattr_(self, "image", image)
        setattr_(self, "draft", draft)
        setattr_(self, "word_count", word_count)
        setattr_(self, "read_minutes", read_minutes)

    @property
    def html(self) -> str:
        """Full rendered HTML; every link and image src is absolute."""
        body = self._body
        return body if isinstance(body, str) else body.load()

    @property
    def body_in_memory(self) -> bool:
        """Whether ``html`` is held as text (True) or read from the body store on access."""
        return isinstance(self._body, str)

    def with_html(self, html: str, summary: str) -> Post:
        """This post with another body held as text (cross-post links resolved in it)."""
        return dataclasses.replace(self, _body=html, summary=summary)

    def with_stored_body(self, body: StoredBody) -> Post:
        """This post with its HTML held by reference instead of as text."""
        return dataclasses.replace(self, _body=body)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Post):
            return NotImplemented
        return self._fields() == other._fields() and (
            self._body is other._body or self.html == other.html
        )

    def __hash__(self) -> int:
        return hash(self._fields())

    def _fields(self) -> tuple[object, ...]:
        return (
            self.source, self.slug, self.title, self.date, self.updated, self.tags,
            self.summary, self.url, self.id, self.author, self.image, self.draft,
            self.word_count, self.read_minutes,
        )  # fmt: skip

    def __repr__(self) -> str:
        body = f"{len(self._body)} chars" if isinstance(self._body, str) else repr(self._body)
        return f"Post(source={self.source!r}, slug={self.slug!r}, date={self.date!r}, html={body})"

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
    status: str  #: "pending", "active", "unsubscribed", "bounced" or "complained"
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


#: Called as (done, total) while a digest is being sent (a progress bar, a log line).
ProgressCallback = Callable[[int, int], None]
