"""The pure whole-site step: every file's :class:`ParsedFile` to one :class:`SiteContent`.

Cross-file rules live here, apart from the per-file parsing in :mod:`fieldfeed.site.posts`:
one slug, one link and one id per post, one display name per tag, unknown front-matter keys
grouped into a few warnings, expired and draft posts left out and counted, and the order.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import datetime

from fieldfeed.errors import Problem
from fieldfeed.model import Post, Tag
from fieldfeed.names import same_tag
from fieldfeed.site import metadata
from fieldfeed.site.posts import ParsedFile, SiteContent


def _expired(post: Post, expires: datetime | None, now: datetime) -> Post:
    """The post, marked a draft once Hugo's ``expiryDate`` has passed (left out, counted)."""
    if expires is None or expires > now or post.draft:
        return post
    return dataclasses.replace(post, draft=True)


def _tag_collisions(good: list[ParsedFile]) -> list[Problem]:
    """A warning for each post spelling a tag differently from the first spelling of its
    slug (oldest post first) when the two are not the same tag by PRODUCT.md's rule
    (:func:`fieldfeed.names.same_tag`): "Node.js" and "Node JS" still share one feed.

    A warning, not an error: merging spellings under one slug is what the site has always
    done and often what the writer meant; symbols that do tell tags apart (C, C++, C#)
    already get their own slugs, so what is left is for the writer to judge.
    """
    first: dict[str, tuple[str, str]] = {}
    found: list[Problem] = []
    posts = sorted(
        ((f.post, f) for f in good if f.post is not None), key=lambda p: (p[0].date, p[0].slug)
    )
    for post, f in posts:
        for tag in post.tags:
            name, source = first.setdefault(tag.slug, (tag.name, f.source))
            if not same_tag(name, tag.name):
                message = (
                    f"tags: {tag.name!r} and {name!r} ({source}) share the feed "
                    f"tags/{tag.slug}/ and are merged into one tag; spell them alike, or "
                    "differently enough to get two feeds"
                )
                found.append(Problem(f.source, f.tags_line, message, warning=True))
    return found


def _link_collisions(good: list[ParsedFile]) -> list[Problem]:
    """An error on each post sharing a slug, a link or an id with another, naming the others.

    One report per set of posts: two posts with one slug and so one link are told once, as
    the slug (the cause); two own ``permalink``s alike, as the permalink.
    """
    found: list[Problem] = []
    reported: set[frozenset[str]] = set()

    def report(groups: dict[str, list[ParsedFile]], key: str, line: str) -> None:
        for value, group in groups.items():
            sources = frozenset(g.source for g in group)
            if len(sources) < 2 or sources in reported:
                continue
            reported.add(sources)
            for f in group:
                others = ", ".join(g.source for g in group if g is not f)
                message = f"{key}: {value!r} is also used by {others}"
                found.append(Problem(f.source, getattr(f, line), message))

    by_slug: dict[str, list[ParsedFile]] = defaultdict(list)
    by_url: dict[str, list[ParsedFile]] = defaultdict(list)
    # Explicit ids and links share one space: an id equal to another post's link collides.
    by_id: dict[str, list[ParsedFile]] = defaultdict(list)
    for f in good:
        assert f.post is not None
        by_slug[f.post.slug].append(f)
        by_url[f.post.url].append(f)
        by_id[f.post.id].append(f)
        if f.post.id != f.post.url:
            by_id[f.post.url].append(f)
    report(by_slug, "slug", "slug_line")
    report(by_url, "permalink", "url_line")
    report(by_id, "id", "id_line")
    return found


def assemble(
    parsed: list[ParsedFile], now: datetime, rendered: int = 0
) -> tuple[SiteContent, tuple[Problem, ...]]:
    """Cross-file rules: one slug and one id per post, one display name per tag, the order.

    Returns the content and the errors (sorted by path, then line); warnings are in the
    content. Drafts and future posts are checked like the rest, then left out.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    errors = [p for f in parsed for p in f.problems if not p.warning]
    warnings = [p for f in parsed for p in f.problems if p.warning]
    good = [f for f in parsed if f.post is not None]

    errors.extend(_link_collisions(good))
    warnings.extend(_tag_collisions(good))
    warnings.extend(
        metadata.unknown_key_warnings(
            (f.source, key, line, message) for f in parsed for key, line, message in f.unknown_keys
        )
    )
    # Expired (Hugo's expiryDate passed) is left out and counted like a draft.
    posts = [_expired(f.post, f.expires, now) for f in good if f.post is not None]
    drafts = sum(1 for p in posts if p.draft) + sum(1 for f in parsed if f.undated_draft)
    future = sum(1 for p in posts if not p.draft and p.date > now)
    published = [p for p in posts if not p.draft and p.date <= now]
    # A tag's display name is the spelling of the oldest published post that uses it.
    spelling: dict[str, str] = {}
    for post in sorted(published, key=lambda p: (p.date, p.slug)):
        for tag in post.tags:
            spelling.setdefault(tag.slug, tag.name)
    published = [
        p
        if all(spelling[t.slug] == t.name for t in p.tags)
        else dataclasses.replace(p, tags=tuple(Tag(spelling[t.slug], t.slug) for t in p.tags))
        for p in published
    ]
    published.sort(key=lambda p: p.slug)
    published.sort(key=lambda p: p.date, reverse=True)
    content = SiteContent(
        posts=tuple(published),
        warnings=tuple(sorted(warnings, key=lambda p: (p.path, p.line))),
        files=len(parsed),
        drafts=drafts,
        future=future,
        rendered=rendered,
    )
    return content, tuple(sorted(errors, key=lambda p: (p.path, p.line, p.message)))
