"""What front matter written for Jekyll, Hugo or Pelican means to fieldfeed.

Pure: a parsed metadata mapping in, values and messages out. :mod:`fieldfeed.site.posts` calls
these to read the keys those generators use for the same things fieldfeed reads (publish and
expiry dates, hidden posts, categories), and to tell an unknown key (a warning, with a "did you
mean") from one that fieldfeed knowingly ignores (``layout``, ``weight``, ``aliases``, ...).

Keys are case-insensitive, as in Hugo: ``publishDate``, ``PublishDate`` and ``publishdate`` are
one key. Messages still show the key as the post spells it.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from fieldfeed.errors import Problem
from fieldfeed.limits import MAX_TAGS
from fieldfeed.model import Tag
from fieldfeed.names import tag_slug
from fieldfeed.site.frontmatter import Report, describe, meta_datetime, meta_string

__all__ = [
    "EXPIRY_KEYS",
    "PUBLISH_KEYS",
    "UPDATED_KEYS",
    "Keys",
    "author",
    "categories",
    "first_key",
    "hidden",
    "in_drafts_folder",
    "normalize_keys",
    "publish_date",
    "publish_window",
    "read_tags",
    "unknown_key_warnings",
    "unknown_keys",
    "with_categories",
]

#: Hugo's publishDate and its aliases (``published`` only when it is not true/false: in
#: Jekyll it is the "show this post" flag).
PUBLISH_KEYS = ("publishdate", "pubdate", "published")
#: Hugo's expiryDate and its alias.
EXPIRY_KEYS = ("expirydate", "unpublishdate")
#: The last-modified date: ours, Hugo's ``lastmod``/``modified`` (Pelican's ``Modified``), and
#: jekyll-last-modified-at's ``last_modified_at``; the first one present wins.
UPDATED_KEYS = ("updated", "lastmod", "modified", "last_modified_at")

#: Every key fieldfeed reads (what "did you mean" suggests).
READ_KEYS = frozenset(
    {
        "title",
        "date",
        "tags",
        "summary",
        "author",
        "authors",
        "draft",
        "slug",
        "id",
        "image",
        "categories",
        "category",
        "status",
        "permalink",
        "url",
        *PUBLISH_KEYS,
        *EXPIRY_KEYS,
        *UPDATED_KEYS,
    }
)

#: Keys Jekyll, Hugo, Pelican and their common themes and plugins use that mean nothing to a
#: feed: fieldfeed ignores them without a word, so a migrated blog's check stays readable.
IGNORED_KEYS = frozenset(
    {
        # Jekyll and its common plugins (jekyll-seo-tag, jekyll-redirect-from, jekyll-sitemap)
        "layout",
        "excerpt",
        "excerpt_separator",
        "comments",
        "redirect_from",
        "redirect_to",
        "sitemap",
        "seo",
        "author_url",
        "lang",
        "locale",
        "pin",
        "sticky",
        "render_with_liquid",
        # Hugo's reserved fields
        "aliases",
        "build",
        "cascade",
        "description",
        "headless",
        "iscjklanguage",
        "keywords",
        "linktitle",
        "markup",
        "menu",
        "menus",
        "outputs",
        "params",
        "resources",
        "translationkey",
        "type",
        "weight",
        "series",
        "images",
        "videos",
        "audio",
        "toc",
        "math",
        "mathjax",
        "katex",
        "showtoc",
        "tocopen",
        "cover",
        "featured_image",
        "thumbnail",
        "subtitle",
        "share",
        # Pelican's metadata
        "translation",
        "template",
        "save_as",
    }
)

#: How many files get their own warning for one unknown key; the rest are one summary line.
WARN_FILES_PER_KEY = 3


@dataclass(frozen=True, slots=True)
class Keys:
    """A post's metadata with lower-cased keys, and where and how each key is written."""

    meta: dict[str, Any]
    #: 1-based line of each key in the file.
    lines: dict[str, int]
    #: The key as written (``publishDate``), for messages.
    spelled: dict[str, str]


def normalize_keys(meta: dict[str, Any], key_lines: dict[str, int]) -> Keys:
    """Lower-case every key (Hugo's rule); the first spelling of a key wins."""
    lowered: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    lines: dict[str, int] = {}
    for key, value in meta.items():
        low = key.lower()
        if low not in lowered:
            lowered[low] = value
            spelled[low] = key
            if key in key_lines:
                lines[low] = key_lines[key]
    for key, line in key_lines.items():
        lines.setdefault(key.lower(), line)
    return Keys(lowered, lines, spelled)


def first_key(meta: dict[str, Any], names: Iterable[str]) -> str | None:
    """The first of ``names`` that has a value (not null), or None."""
    for name in names:
        value = meta.get(name)
        if value is not None and not (name == "published" and isinstance(value, bool)):
            return name
    return None


def hidden(meta: dict[str, Any], error: Report) -> bool:
    """Whether the post is left out like a draft: Jekyll's ``published: false`` or Pelican's
    ``status: draft``, ``hidden`` or ``skip`` (``published``, Pelican's default, shows it)."""
    left_out = meta.get("published") is False
    status = meta.get("status")
    if status is not None:
        value = status.strip().lower() if isinstance(status, str) else None
        if value in ("draft", "hidden", "skip"):
            left_out = True
        elif value != "published":
            shown = repr(status) if isinstance(status, str) else describe(status)
            error("status", f"expected draft, hidden, skip or published, got {shown}")
    return left_out


def categories(meta: dict[str, Any], error: Report) -> list[str]:
    """``categories`` and ``category``, as tag names.

    ``categories`` is a list, or a string that Jekyll splits at spaces (at commas here when
    it holds any, as a comma-separated ``tags`` string is read). ``category`` is one name,
    spaces and all (``Category: Web Development`` in Pelican).
    """
    found: list[str] = []
    for key in ("categories", "category"):
        value = meta.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            if key == "category":
                found.append(value)
            else:
                found.extend(value.split(",") if "," in value else value.split())
        elif isinstance(value, list) and all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in value
        ):
            found.extend(str(v) for v in value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            found.append(str(value))
        else:
            error(key, f"expected a list or a string, got {describe(value)}")
    return [name for name in (" ".join(n.split()) for n in found) if name]


def unknown_keys(keys: Keys) -> tuple[tuple[str, int, str], ...]:
    """``(key, line, message)`` for each key fieldfeed neither reads nor knowingly ignores."""
    found = []
    for key in keys.meta:
        if key in READ_KEYS or key in IGNORED_KEYS:
            continue
        close = difflib.get_close_matches(key, sorted(READ_KEYS), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        shown = keys.spelled.get(key, key)
        found.append((key, keys.lines.get(key, 0), f"unknown key {shown!r}{hint}"))
    return tuple(found)


def in_drafts_folder(source: str, content_prefix: str) -> bool:
    """Whether ``source`` lies in a ``_drafts`` folder below the content folder (Jekyll's)."""
    inside = source[len(content_prefix) :] if source.startswith(content_prefix) else source
    return "_drafts" in inside.split("/")[:-1]


def publish_window(
    meta: dict[str, Any], tz: tzinfo, error: Report
) -> tuple[datetime | None, datetime | None]:
    """Hugo's publish date and expiry date (either None when not set), read like ``date``."""
    dates: list[datetime | None] = []
    for names in (PUBLISH_KEYS, EXPIRY_KEYS):
        key = first_key(meta, names)
        dates.append(meta_datetime(meta[key], tz, key, error) if key else None)
    return dates[0], dates[1]


def author(meta: dict[str, Any], error: Report) -> str | None:
    """``author``, else ``authors`` (Pelican's ``Authors: A, B``, Hugo's list) joined."""
    if meta.get("author") is not None or meta.get("authors") is None:
        return meta_string(meta, "author", error)
    value = meta["authors"]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(v.strip() for v in value if v.strip())
    return meta_string(meta, "authors", error)


def unknown_key_warnings(found: Iterable[tuple[str, str, int, str]]) -> list[Problem]:
    """Warnings for ``(source, key, line, message)`` items: one per file for the first
    WARN_FILES_PER_KEY files (by path) with a key, then one line for the rest, so a theme's
    key in every post of a migrated blog costs a few lines, not hundreds."""
    by_key: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
    for source, key, line, message in found:
        by_key[key].append((source, line, message))
    warnings: list[Problem] = []
    for items in by_key.values():
        items.sort()
        shown = items if len(items) <= WARN_FILES_PER_KEY + 1 else items[:WARN_FILES_PER_KEY]
        for source, line, message in shown:
            warnings.append(Problem(source, line, message, warning=True))
        if len(shown) < len(items):
            source, line, message = items[len(shown)]
            more = len(items) - len(shown) - 1
            message = f"{message}; and in {more} more files after this one (not listed)"
            warnings.append(Problem(source, line, message, warning=True))
    return warnings


def read_tags(value: Any, error: Report) -> tuple[Tag, ...]:
    """``tags``: a list, or one comma-separated string; one Tag per slug, first spelling."""
    if value is None:
        return ()
    if isinstance(value, str):
        names = value.split(",")
    elif isinstance(value, list) and all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in value
    ):
        names = [str(v) for v in value]
    else:
        if isinstance(value, list):
            bad = next(
                v for v in value if isinstance(v, bool) or not isinstance(v, str | int | float)
            )
            kind = f"a list containing {describe(bad)}"
        else:
            kind = describe(value)
        error("tags", f"expected a list or a comma-separated string, got {kind}")
        return ()
    seen: dict[str, Tag] = {}
    for raw_name in names:
        name = " ".join(raw_name.split())
        if name:
            slug = tag_slug(name)
            seen.setdefault(slug, Tag(name=name, slug=slug))
    if len(seen) > MAX_TAGS:
        error("tags", f"{len(seen):,} tags; a post may have at most {MAX_TAGS}")
        return ()
    return tuple(seen.values())


def publish_date(posted: datetime | None, publish: datetime | None) -> datetime | None:
    """The post's date given Hugo's ``publishDate``: the later of the two, so a post held back
    until its publish date is scheduled like any future post, and when it appears it is new
    (in the feeds' order and in the next digest's window), not back-dated to when it was
    written. Without ``date``, the publish date (Hugo's fallback)."""
    if publish is None or (posted is not None and posted >= publish):
        return posted
    return publish


def with_categories(tags: tuple[Tag, ...], names: list[str], error: Report) -> tuple[Tag, ...]:
    """The tags, then each category that is not already one of them (same slug)."""
    seen = {t.slug: t for t in tags}
    for name in names:
        seen.setdefault(tag_slug(name), Tag(name=name, slug=tag_slug(name)))
    if len(seen) > MAX_TAGS:
        error("categories", f"{len(seen):,} tags with categories; at most {MAX_TAGS}")
        return tags
    return tuple(seen.values())
