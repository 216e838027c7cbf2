"""Links from one post to another (``{% post_url %}``, ``{% link %}``, Hugo's ``ref``), resolved
once every post is loaded.

Why a separate pass: posts are rendered one by one (in a process pool) and cached by the hash
of their own bytes, so a rendering must not depend on another file. A reference is rendered as
a placeholder URL (:data:`fieldfeed.site.templatesyntax.REF_SCHEME`) and listed in
``ParsedFile.refs``; :func:`link_references` swaps the placeholders for the targets' current
permalinks on every build, cache hit or miss. It reads the bodies of the posts that hold
references and no others, so its cost follows the number of references, not the archive.

A target that is not a published post (unknown, ambiguous, draft, future) is a warning naming
the reference's line; the link is left out and its text kept, as Jekyll's own build would not
publish a dead link either (it fails instead, which would stop a whole feed for one stale
link in an old post).
"""

from __future__ import annotations

import dataclasses
import html as htmllib
import posixpath
import re
from collections import defaultdict

from fieldfeed.errors import Problem
from fieldfeed.model import Post
from fieldfeed.site.posts import ParsedFile, SiteContent
from fieldfeed.site.templatesyntax import REF_PLACEHOLDER, Ref, drop_urls

__all__ = ["link_references"]

_POST_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd", ".mkdn", ".txt")


def link_references(
    content: SiteContent, parsed: list[ParsedFile], content_prefix: str
) -> SiteContent:
    """``content`` with every reference placeholder resolved (see the module docstring)."""
    holders = {f.source: f.refs for f in parsed if f.refs}
    if not holders:
        return content
    index = _index([f.post for f in parsed if f.post is not None], content_prefix)
    published = {p.source for p in content.posts}
    warnings = list(content.warnings)
    posts: list[Post] = []
    for post in content.posts:
        refs = holders.get(post.source)
        if refs is None:
            posts.append(post)
            continue
        urls: list[str | None] = []
        for ref in refs:
            url, problem = _resolve(ref, index, published)
            urls.append(url)
            if problem is not None:
                warnings.append(Problem(post.source, ref.line, problem, warning=True))
        html = _substitute(post.html, refs, urls)
        summary = _substitute_text(post.summary, refs, urls)
        posts.append(post.with_html(html, summary))
    return dataclasses.replace(
        content,
        posts=tuple(posts),
        warnings=tuple(sorted(warnings, key=lambda p: (p.path, p.line))),
    )


def _index(posts: list[Post], content_prefix: str) -> dict[str, list[Post]]:
    """Every name a post can be referred to by: its path under the content folder with and
    without the extension, each shorter path at a ``/`` (so ``post_url NAME`` finds a post
    in a subfolder, and ``ref "foo"`` finds ``posts/foo.md``), and a bundle's folder."""
    names: dict[str, list[Post]] = defaultdict(list)
    for post in posts:
        rel = post.source.removeprefix(content_prefix)
        stem, ext = posixpath.splitext(rel)
        forms = {rel, stem} if ext.lower() in _POST_SUFFIXES else {rel}
        if posixpath.basename(stem) in ("index", "_index") and "/" in stem:
            forms.add(posixpath.dirname(stem))
        keys: set[str] = set()
        for form in forms:
            parts = form.split("/")
            keys.update("/".join(parts[i:]) for i in range(len(parts)))
        for key in keys:
            names[key].append(post)
    return names


def _resolve(
    ref: Ref, index: dict[str, list[Post]], published: set[str]
) -> tuple[str | None, str | None]:
    """The URL for ``ref`` (None when it has none) and a warning, if any."""
    target, hash_, fragment = ref.target.partition("#")
    key = posixpath.normpath(target.strip("/")) if target.strip("/") else ""
    found = index.get(key, [])
    shown = f"`{' '.join(ref.original.split())}`"
    if not found:
        return None, f"{shown}: no post {target!r} in the content folder; the link is left out"
    if len(found) > 1:
        names = ", ".join(sorted(p.source for p in found))
        return None, f"{shown}: {target!r} names several posts ({names}); the link is left out"
    post = found[0]
    if post.source not in published:
        message = f"{shown}: {post.source} is not published (draft or future); link left out"
        return None, message
    return post.url + (hash_ + fragment if hash_ else ""), None


def _substitute(html: str, refs: tuple[Ref, ...], urls: list[str | None]) -> str:
    def unresolved(url: str) -> bool:
        return any(
            int(m.group(1)) >= len(urls) or urls[int(m.group(1))] is None
            for m in REF_PLACEHOLDER.finditer(url)
        )

    html = drop_urls(html, unresolved)

    def put(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if n >= len(urls):
            return m.group(0)
        url = urls[n]
        return htmllib.escape(url if url is not None else refs[n].original, quote=True)

    return REF_PLACEHOLDER.sub(put, html)


def _substitute_text(text: str, refs: tuple[Ref, ...], urls: list[str | None]) -> str:
    if "fieldfeed-ref:" not in text:
        return text

    def put(m: re.Match[str]) -> str:
        n = int(m.group(1))
        return (urls[n] or refs[n].original) if n < len(urls) else m.group(0)

    return REF_PLACEHOLDER.sub(put, text)
