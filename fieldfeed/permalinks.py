"""Post URLs: the ``[site] post_path`` pattern, slugs from file names, and per-post permalinks.

Shared ground: :mod:`fieldfeed.config` checks a pattern when the config loads, and
:mod:`fieldfeed.site.posts` expands it for each post, so both read the same rules here.
Pure: strings and dates in, strings (or a problem message) out.

The aim is the URL the existing site already serves: fieldfeed publishes feeds for a blog that
Jekyll, Hugo or Pelican builds, so a link that differs by one character is a 404.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from fieldfeed.names import slugify

__all__ = [
    "PLACEHOLDERS",
    "PermalinkError",
    "PostPlaces",
    "expand_permalink",
    "expand_post_path",
    "file_slug",
    "post_categories",
    "post_category",
    "post_path_problem",
    "post_url",
]

#: The placeholders ``[site] post_path`` takes.
PLACEHOLDERS = ("slug", "year", "month", "day", "category", "categories")

# RFC 3986 section 2.3, unreserved characters: what a URL path segment holds unescaped.
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")


def post_path_problem(pattern: str) -> str | None:
    """What is wrong with a ``post_path`` pattern, as a message; None when it is usable.

    Checked: braces balance, only :data:`PLACEHOLDERS` (no format specs, no ``{0}``),
    ``{slug}`` is present (without it two posts of one day share a URL: dates alone never
    tell posts apart), no ``..`` or ``.`` segment (which would climb out of ``[site] url``),
    and no scheme, query or fragment: the pattern is a path under ``[site] url``.
    """
    try:
        fields = list(string.Formatter().parse(pattern))
    except ValueError as exc:  # "Single '}' encountered in format string", ...
        return f"[site] post_path {pattern!r} is malformed: {exc} (placeholders look like {{slug}})"
    for _text, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            return f"[site] post_path: unknown placeholder {{{name}}} (known: {known})"
        if spec or conversion:
            return f"[site] post_path: {{{name}}} takes no format spec or conversion"
    if not any(name == "slug" for _text, name, *_ in fields):  # "{{slug}}" is text
        return "[site] post_path must contain {slug}, or posts of one day would share a URL"
    literal = "".join(text for text, *_ in fields)
    if any(c in literal for c in "?#\\") or "://" in literal:
        return (
            f"[site] post_path {pattern!r} must be a path under [site] url (no ?, #, \\ or scheme)"
        )
    if any(seg in (".", "..") for seg in pattern.split("/")):
        return f"[site] post_path {pattern!r} must not contain '.' or '..' segments"
    return None


@dataclass(frozen=True, slots=True)
class PostPlaces:
    """What a post's URL is made of: the values of the placeholders."""

    slug: str
    #: The post's date in the site's timezone (the caller converts).
    date: datetime
    #: The category slug, None when the post has none.
    category: str | None
    #: Every category as written, in Jekyll's order (see :func:`post_categories`).
    categories: tuple[str, ...] = ()


def _categories_path(categories: tuple[str, ...]) -> str:
    """Jekyll's ``:categories``: each category lowercased (not slugified), once, joined by
    ``/``, escaped for a URL path; empty when there are none (its segment then goes)."""
    lowered = dict.fromkeys(c.lower() for c in categories)
    return "/".join(quote(c, safe=_PATH_SAFE) for c in lowered)


# What may stay unescaped in one path segment (RFC 3986 pchar, less "%": values are raw text).
_PATH_SAFE = "!$&'()*+,;=:@~-._"
_SLASHES = re.compile(r"/{2,}")


def expand_post_path(pattern: str, places: PostPlaces) -> str:
    """The pattern with its placeholders filled; the pattern was checked at config load.

    A leading ``/`` is dropped: the path is always under ``[site] url`` (as Jekyll's
    permalinks are under its ``baseurl``). Raises KeyError("category") when the pattern
    uses ``{category}`` and the post has none: the caller reports it on the post.
    """
    values = {
        "slug": places.slug,
        "year": f"{places.date.year:04d}",
        "month": f"{places.date.month:02d}",
        "day": f"{places.date.day:02d}",
    }
    if places.category is not None:
        values["category"] = places.category
    values["categories"] = _categories_path(places.categories)
    # An empty {categories} leaves "//": the segment goes, as in Jekyll.
    return _SLASHES.sub("/", pattern.format_map(values)).lstrip("/")


def file_slug(name: str) -> str:
    """The slug of a post named only by its file (after any date prefix).

    Kept as written when every character is RFC 3986 unreserved, as Jekyll's ``:title`` and
    Hugo's file-name slugs keep it (``jekyll-sass-converter-3.0-released``, case and dots
    too), so the feed links match the site; otherwise :func:`fieldfeed.names.slugify`.
    """
    if _UNRESERVED.fullmatch(name) and name.strip(".") and not name.startswith("."):
        return name
    return slugify(name)


def post_categories(meta: Mapping[str, Any]) -> tuple[str, ...]:
    """Every category of the post as written, for ``{categories}``: ``categories`` (a list,
    or Jekyll's space-separated string), then ``category``, each once, as Jekyll merges them.
    """
    found: list[str] = []
    for key in ("categories", "category"):
        value = meta.get(key)
        values = value.split() if isinstance(value, str) and key == "categories" else value
        for item in values if isinstance(values, list) else [values]:
            usable = isinstance(item, str | int | float) and not isinstance(item, bool)
            if usable and str(item).strip():
                found.append(str(item).strip())
    return tuple(dict.fromkeys(found))


def post_category(meta: Mapping[str, Any]) -> str | None:
    """The post's category for ``{category}``, slugified: ``category``, else the first of
    ``categories`` (a list, or Jekyll's space-separated string); None when there is none."""
    value = meta.get("category")
    if value is None or (isinstance(value, str) and not value.strip()):
        value = meta.get("categories")
        if isinstance(value, str):
            value = value.split()
        if isinstance(value, list):
            value = next((v for v in value if isinstance(v, str | int) and str(v).strip()), None)
    if isinstance(value, list):  # "category: [a, b]"
        value = value[0] if value else None
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
        return slugify(str(value))
    return None


# Jekyll's permalink placeholders (jekyllrb.com/docs/permalinks/): the ones with a meaning
# here are filled; the rest cannot be matched and are refused rather than guessed.
_JEKYLL_TOKEN = re.compile(r":([a-z_]+)")
_JEKYLL_KNOWN = frozenset(
    [
        "year",
        "month",
        "day",
        "title",
        "slug",
        "i_month",
        "i_day",
        "short_year",
        "hour",
        "minute",
        "second",
        "output_ext",
        "categories",
        "path",
        "name",
        "collection",
        "basename",
        "short_month",
        "long_month",
        "short_day",
        "long_day",
        "y_day",
        "w_year",
        "week",
        "w_day",
    ]
)


def expand_permalink(raw: str, site_url: str, places: PostPlaces) -> str:
    """A per-post ``permalink:`` (Jekyll) or ``url:`` (Hugo) as an absolute URL.

    An absolute ``http(s)://`` URL is used as written. A path, with or without a leading
    ``/``, is under ``[site] url``, path included: ``/news/x/`` on ``https://example.org/blog/``
    is ``https://example.org/blog/news/x/``, as Jekyll puts permalinks under ``baseurl`` (and
    Hugo ``url`` under ``baseURL``). Jekyll's ``:year``, ``:month``, ``:day``, ``:title``,
    ``:slug``, ``:categories`` (and ``:i_month``, ``:i_day``, ``:short_year``, ``:hour``,
    ``:minute``, ``:second``, ``:output_ext``) are filled in. Raises ValueError (one line).
    """
    value = raw.strip()
    if not value:
        raise ValueError("must not be empty")
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"expected a path or an http(s):// URL, got {value!r}")
        return value
    if value.startswith("//"):
        raise ValueError(f"expected a path or an http(s):// URL, got {value!r}")
    date = places.date
    filled = {
        "year": f"{date.year:04d}",
        "month": f"{date.month:02d}",
        "day": f"{date.day:02d}",
        "i_month": str(date.month),
        "i_day": str(date.day),
        "short_year": f"{date.year % 100:02d}",
        "hour": f"{date.hour:02d}",
        "minute": f"{date.minute:02d}",
        "second": f"{date.second:02d}",
        "categories": _categories_path(places.categories),
        "title": places.slug,
        "slug": places.slug,
        "output_ext": ".html",
    }

    def fill(match: re.Match[str]) -> str:
        token = match.group(1)
        if token in filled:
            return filled[token]
        if token in _JEKYLL_KNOWN:
            raise ValueError(f"Jekyll's :{token} is not supported here; write the path out")
        return match.group(0)  # not a placeholder (Jekyll leaves it as written too)

    path = _SLASHES.sub("/", _JEKYLL_TOKEN.sub(fill, value))
    if any(seg in (".", "..") for seg in path.split("/")):
        raise ValueError(f"must not contain '.' or '..' segments, got {value!r}")
    # Escape what a URL cannot hold as written (spaces, non-ASCII); keep what it can.
    return site_url + quote(path.lstrip("/"), safe="/%" + _PATH_SAFE)


class PermalinkError(ValueError):
    """A post's URL cannot be made: ``key`` names the front-matter key to point at."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def post_url(meta: Mapping[str, Any], places: PostPlaces, site_url: str, post_path: str) -> str:
    """The post's link: its own ``permalink:`` or ``url:``, else ``[site] url`` + post_path.

    Raises :class:`PermalinkError` for a bad permalink, both keys at once, or a post without
    a category under a ``{category}`` pattern. That last one is an error, not a fallback
    folder: a guessed URL is a link that 404s on the real site, so the writer decides (a
    ``category``, or the post's own ``permalink``).
    """
    given = [k for k in ("permalink", "url") if meta.get(k) is not None]
    if len(given) == 2:
        raise PermalinkError("url", "set permalink or url, not both")
    if given:
        key = given[0]
        value = meta[key]
        if not isinstance(value, str):
            raise PermalinkError(key, f"expected a path or URL, got {type(value).__name__}")
        try:
            return expand_permalink(value, site_url, places)
        except ValueError as exc:
            raise PermalinkError(key, str(exc)) from None
    try:
        return site_url + expand_post_path(post_path, places)
    except KeyError:
        raise PermalinkError(
            "category",
            f"required: [site] post_path {post_path!r} uses {{category}} "
            "(set category, categories or permalink)",
        ) from None
