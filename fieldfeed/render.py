"""Markdown to feed-ready HTML: rendered once, with every link and image made absolute.

Pure apart from a per-process Markdown instance (construction costs more than a typical post,
so it is built once and ``reset()`` between posts).
"""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

#: Maps a relative URL to the absolute URL of a published asset, or None when it names none.
AssetResolver = Callable[[str], str | None]

import markdown

__all__ = ["MORE_MARKER", "RENDERER_VERSION", "Rendered", "absolutize_urls", "render_markdown"]

#: Bump when the HTML for the same Markdown changes, so build caches are invalidated.
RENDERER_VERSION = "2"

#: Text before this marker is the post's summary when it has no ``summary`` key.
MORE_MARKER = "<!-- more -->"
_MORE = re.compile(r"<!--\s*more\s*-->", re.IGNORECASE)

_EXTENSIONS = ["fenced_code", "tables", "toc", "footnotes", "codehilite", "sane_lists"]
_EXTENSION_CONFIGS: dict[str, dict[str, Any]] = {
    # Classes (not inline styles) so a site's stylesheet decides colours; no guessing, which
    # mislabels prose-like blocks and is slow.
    "codehilite": {"css_class": "highlight", "guess_lang": False, "noclasses": False},
    # Permalink-free ids; the anchors themselves are left to the reader's stylesheet.
    "toc": {"permalink": False},
}
_md: markdown.Markdown | None = None


@dataclass(frozen=True, slots=True)
class Rendered:
    """A post body as HTML."""

    #: The full HTML, links absolute.
    html: str
    #: The HTML before ``<!-- more -->`` when the body has one, else None.
    teaser: str | None


def _markdown() -> markdown.Markdown:
    global _md
    if _md is None:
        _md = markdown.Markdown(
            extensions=_EXTENSIONS, extension_configs=_EXTENSION_CONFIGS, output_format="html"
        )
    return _md


def render_markdown(body: str, base_url: str, assets: AssetResolver | None = None) -> Rendered:
    """Render Markdown and resolve relative URLs against ``base_url`` (the permalink).

    A relative URL that names a file beside the post (``images/plot.svg``) resolves to that
    file's published URL through ``assets`` instead.
    """
    md = _markdown()
    try:
        html = md.convert(body)
    finally:
        md.reset()
    html = absolutize_urls(html, base_url, assets)
    more = _MORE.search(html)
    return Rendered(html=html, teaser=html[: more.start()] if more else None)


# A start tag (raw HTML included). Escaped text never contains "<", so text like
# 'use href="x"' in a paragraph is not touched.
# Names and unquoted values never contain "<", so a scan stops at the next tag: without that,
# a run of unclosed "<a <a <a" takes quadratic time.
_TAG = re.compile(
    r"""<[A-Za-z][^\s/<>]*(?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>]+))?)*\s*/?>"""
)
_URL_ATTR = re.compile(
    r"""(?P<lead>\s(?P<name>href|src|srcset|poster|cite|data-src)\s*=\s*)"""
    r"""(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s"'>]+))""",
    re.IGNORECASE,
)


def absolutize_urls(html: str, base: str, assets: AssetResolver | None = None) -> str:
    """Make every ``href``/``src``/``srcset`` (and similar) in ``html`` absolute.

    Fragment-only links (``#fn:1``) become ``base#fn:1``: feed readers show an entry away from
    its page and resolve nothing against the post (Atom readers do not apply ``xml:base``
    reliably). Absolute URLs and other schemes (``mailto:``, ``data:``) are left as they are.
    """

    def fix_attr(m: re.Match[str]) -> str:
        raw = m.group("dq")
        if raw is None:
            raw = m.group("sq") if m.group("sq") is not None else m.group("bare")
        value = htmllib.unescape(raw)
        if m.group("name").lower() == "srcset":
            fixed = ", ".join(
                _fix_candidate(c, base, assets) for c in value.split(",") if c.strip()
            )
        else:
            fixed = _resolve(value.strip(), base, assets)
        if fixed == value:
            return m.group(0)
        return f'{m.group("lead")}"{htmllib.escape(fixed, quote=True)}"'

    def fix_tag(m: re.Match[str]) -> str:
        return _URL_ATTR.sub(fix_attr, m.group(0))

    return _TAG.sub(fix_tag, html)


def _fix_candidate(candidate: str, base: str, assets: AssetResolver | None) -> str:
    parts = candidate.strip().split(None, 1)
    parts[0] = _resolve(parts[0], base, assets)
    return " ".join(parts)


_ABSOLUTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:|//|/|#)")


def _resolve(value: str, base: str, assets: AssetResolver | None) -> str:
    """An asset beside the post wins; anything else relative resolves against the permalink."""
    if assets is not None and value and not _ABSOLUTE.match(value):
        found = assets(value)
        if found is not None:
            return found
    return urljoin(base, value)
