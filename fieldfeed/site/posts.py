"""Posts from their source: one file to a validated, rendered Post, the whole site to SiteContent.

Pure: nothing here walks folders, reads files or touches the build cache; that is
:mod:`fieldfeed.site.content`, which calls :func:`parse_post` for each file (in a process pool when
there are many) and :func:`assemble` once for the site. Each problem is a value in the result,
so every file can be checked before anything fails.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import posixpath
import re
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote, unquote, urljoin
from zoneinfo import ZoneInfo

import markdown
import yaml

from fieldfeed import limits, model, names
from fieldfeed.config import Settings
from fieldfeed.errors import Problem, display_path
from fieldfeed.limits import (
    MAX_BODY_BYTES,
    MAX_NESTING,
    MAX_TAGS,
    MAX_TITLE_CHARS,
    markdown_problem,
)
from fieldfeed.model import Post, Tag
from fieldfeed.names import same_tag, slugify, tag_slug
from fieldfeed.site import frontmatter, text
from fieldfeed.site import markdown as markdown_module
from fieldfeed.site.frontmatter import (
    FrontMatterError,
    Report,
    describe,
    meta_datetime,
    meta_string,
    parse_front_matter,
)
from fieldfeed.site.markdown import (
    RENDERER_VERSION,
    AssetResolver,
    render_markdown,
    render_summary,
)
from fieldfeed.site.text import (
    html_to_text,
    paragraphs,
    read_minutes,
    strip_control_chars,
    summarize,
    word_count,
)


@dataclass(frozen=True, slots=True)
class SiteContent:
    """The site's posts, ready for feeds and digests."""

    #: Published posts only (not draft, not future), newest first (date desc, then slug).
    posts: tuple[Post, ...]
    #: Problems that do not stop a build (e.g. control characters stripped), naming the file.
    warnings: tuple[Problem, ...]
    #: Source files read.
    files: int
    drafts: int
    future: int
    #: Posts rendered this run (cache misses); the rest came from the build cache.
    rendered: int
    #: Non-post files under the content folder (images, attachments), relative to the site
    #: root; published beside the feeds at their path inside the content folder.
    assets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """The settings that shape a rendered post (and so key the build cache)."""

    site_url: str
    post_path: str
    timezone: str
    summary_chars: int
    words_per_minute: int
    #: The content folder relative to the site root, POSIX, with a trailing "/".
    content_prefix: str = "content/"
    #: Every non-post file under the content folder (sorted, relative to the site root):
    #: a relative link or image naming one of them resolves to its published URL.
    assets: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings, assets: tuple[str, ...] = ()) -> ParseOptions:
        return cls(
            site_url=settings.site.url,
            post_path=settings.site.post_path,
            timezone=settings.site.timezone,
            summary_chars=settings.content.summary_chars,
            words_per_minute=settings.content.words_per_minute,
            content_prefix=display_path(settings.content_dir, settings.root).rstrip("/") + "/",
            assets=assets,
        )

    def asset_resolver(self, source: str) -> AssetResolver | None:
        """Resolve relative URLs in ``source`` to published assets beside it (see assets)."""
        if not self.assets:
            return None
        known = _asset_set(self.assets)
        folder = posixpath.dirname(source)
        prefix = self.content_prefix

        def resolve(value: str) -> str | None:
            path, sep, rest = value.partition("#")
            path, qsep, query = path.partition("?")
            if not path:
                return None
            target = posixpath.normpath(posixpath.join(folder, unquote(path)))
            if target not in known or not target.startswith(prefix):
                return None
            tail = (qsep + query if qsep else "") + (sep + rest if sep else "")
            return self.site_url + quote(target[len(prefix) :]) + tail

        return resolve

    def fingerprint(self) -> bytes:
        """These settings plus everything else that shapes a parsed post: the renderer's
        version and dependencies, and the source of the modules that build Post records (a
        new field on Post must never meet a cached Post pickled without it). The build cache
        is keyed by :func:`fieldfeed.site.content.cache_fingerprint`, which adds the loader's
        and the cache's own source."""
        parts = (
            *dataclasses.astuple(self),
            RENDERER_VERSION,
            markdown.__version__,
            yaml.__version__,
            _code_digest(),
        )
        return repr(parts).encode("utf-8")


@functools.lru_cache(maxsize=4)
def _asset_set(assets: tuple[str, ...]) -> frozenset[str]:
    return frozenset(assets)


@functools.cache
def _code_digest() -> str:
    # This module and the ones it builds a Post with. The loader and the cache itself shape
    # what is cached too: fieldfeed.site.content adds their source (cache_fingerprint).
    modules = (frontmatter, limits, markdown_module, model, names, text, sys.modules[__name__])
    return source_digest(modules)


def source_digest(modules: Iterable[ModuleType]) -> str:
    """SHA-256 over the source files of ``modules``, for cache fingerprints."""
    h = hashlib.sha256()
    for module in modules:
        if module.__file__:
            h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """One file's result: a post (when it has no errors) and its problems and warnings."""

    source: str
    post: Post | None
    problems: tuple[Problem, ...]
    #: Lines of the ``slug`` and ``id`` keys (or of the front matter), for collision messages.
    slug_line: int = 0
    id_line: int = 0
    #: Line of the ``tags`` key, for tag spelling messages.
    tags_line: int = 0


# --- the pure per-file step ----------------------------------------------------------------

_DATE_PREFIX = re.compile(r"^(\d{4})-(\d{2})-(\d{2})-(.+)$")


# Jekyll/Hugo style: "2024-05-01 18:15:32 +0530", "2024-05-01 18:15", "2024-05-01T18:15 UTC".
def parse_post(source: str, raw: bytes, options: ParseOptions) -> ParsedFile:
    """Validate and render one post file. Pure: ``source`` is only used in messages and slugs.

    Hostile input fails this file alone, with its line: past a limit in
    :mod:`fieldfeed.limits` (size, nesting, tags, title), or too deep for the renderer.
    """
    if len(raw) > MAX_BODY_BYTES:
        size = f"{len(raw) / 1024 / 1024:.1f} MiB"
        return failed_file(source, 0, f"too large: {size} (a post may be at most 2 MiB)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = raw[exc.start]
        return failed_file(source, line, f"not valid UTF-8 (byte 0x{bad:02x} at column {column})")
    problems: list[Problem] = []
    text, removed = strip_control_chars(text)
    if removed:
        problems.append(
            Problem(source, 0, f"removed {removed} XML-invalid control character(s)", warning=True)
        )
    try:
        fm = parse_front_matter(text)
    except FrontMatterError as exc:
        return failed_file(source, exc.line, exc.message, problems)

    meta, lines = fm.meta, fm.key_lines
    tz = _zone(options.timezone)

    def error(key: str | None, message: str) -> None:
        line = lines.get(key, fm.start_line) if key else fm.start_line
        problems.append(Problem(source, line, f"{key}: {message}" if key else message))

    title = meta_string(meta, "title", error)
    if meta.get("title") is None:
        error("title", "required")
    elif title is not None and not title.strip():
        error("title", "must not be empty")
        title = None
    elif title is not None and len(title) > MAX_TITLE_CHARS:
        error("title", f"too long: {len(title):,} characters (at most {MAX_TITLE_CHARS:,})")
        title = None

    name = source.rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0]
    if stem in ("index", "_index") and "/" in source:
        stem = source.rsplit("/", 2)[-2]  # page bundle: content/posts/<slug>/index.md
    prefixed = _DATE_PREFIX.match(stem)
    posted: datetime | None = None
    if meta.get("date") is not None:
        posted = meta_datetime(meta["date"], tz, "date", error)
    elif prefixed:
        try:
            y, m, d = (int(g) for g in prefixed.groups()[:3])
            posted = datetime(y, m, d, tzinfo=tz)
        except ValueError:
            error(None, f"date: the file name's date prefix {stem[:10]!r} is not a valid date")
    else:
        error("date", "required (or start the file name with YYYY-MM-DD-)")
    updated = posted
    if meta.get("updated") is not None:
        updated = meta_datetime(meta["updated"], tz, "updated", error)

    tags = _tags(meta.get("tags"), error)
    summary_raw = meta_string(meta, "summary", error)
    author = meta_string(meta, "author", error)
    slug_raw = meta_string(meta, "slug", error)
    id_raw = meta_string(meta, "id", error)
    image_raw = meta_string(meta, "image", error)
    draft = meta.get("draft", False)
    if draft is None:
        draft = False
    if not isinstance(draft, bool):
        error("draft", f"expected true or false, got {draft!r}")
        draft = False

    found = markdown_problem(fm.body)
    if found is not None:
        problems.append(Problem(source, fm.body_line + found[0], found[1]))
    found = markdown_problem(summary_raw) if summary_raw else None
    if found is not None:
        error("summary", found[1])

    if any(not p.warning for p in problems) or title is None or posted is None:
        return ParsedFile(source, None, tuple(problems))

    slug = slugify(slug_raw) if slug_raw and slug_raw.strip() else None
    if slug is None:
        slug = slugify(prefixed.group(4) if prefixed else stem)
    url = options.site_url + options.post_path.format(slug=slug)
    assets = options.asset_resolver(source)
    has_summary = summary_raw is not None and bool(summary_raw.strip())
    try:
        rendered = render_markdown(fm.body, url, assets)
        summary = paragraphs(render_summary(summary_raw or "")) if has_summary else ""
    except RecursionError:  # nesting the line scan does not see (inline: links, emphasis)
        message = f"too deeply nested to render (at most {MAX_NESTING} levels)"
        return failed_file(source, fm.body_line, message, problems)
    plain = rendered.text
    if not has_summary and rendered.teaser is not None:
        summary = paragraphs(html_to_text(rendered.teaser))
    if not summary:  # no summary key and no marker, or a marker with nothing before it
        summary = summarize(plain, options.summary_chars)
    words = word_count(plain)
    post = Post(
        source=source,
        slug=slug,
        title=title.strip(),
        date=posted,
        updated=updated or posted,
        tags=tags,
        summary=summary,
        html=rendered.html,
        url=url,
        id=id_raw.strip() if id_raw and id_raw.strip() else url,
        author=(author.strip() or None) if author is not None else None,
        image=_image_url(image_raw, url, assets),
        draft=draft,
        word_count=words,
        read_minutes=read_minutes(words, options.words_per_minute),
    )
    return ParsedFile(
        source,
        post,
        tuple(problems),
        slug_line=lines.get("slug", fm.start_line),
        id_line=lines.get("id", lines.get("slug", fm.start_line)),
        tags_line=lines.get("tags", fm.start_line),
    )


def _image_url(raw: str | None, url: str, assets: AssetResolver | None) -> str | None:
    """The ``image`` key as an absolute URL: a file beside the post, else against the post."""
    if not raw or not raw.strip():
        return None
    value = raw.strip()
    found = assets(value) if assets is not None and "://" not in value else None
    return found or urljoin(url, value)


def failed_file(
    source: str, line: int, message: str, earlier: list[Problem] | None = None
) -> ParsedFile:
    """The result for a file that yields no post: its problem (after ``earlier`` ones)."""
    return ParsedFile(source, None, (*(earlier or ()), Problem(source, line, message)))


@functools.cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _tags(value: Any, error: Report) -> tuple[Tag, ...]:
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


# --- the pure whole-site step --------------------------------------------------------------


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

    by_slug: dict[str, list[ParsedFile]] = defaultdict(list)
    for f in good:
        assert f.post is not None
        by_slug[f.post.slug].append(f)
    for slug, group in by_slug.items():
        for f in group if len(group) > 1 else ():
            others = ", ".join(g.source for g in group if g is not f)
            errors.append(
                Problem(f.source, f.slug_line, f"slug: {slug!r} is also used by {others}")
            )
    # Explicit ids and permalinks share one space: an id equal to another post's URL collides.
    by_id: dict[str, list[ParsedFile]] = defaultdict(list)
    for f in good:
        assert f.post is not None
        by_id[f.post.id].append(f)
        if f.post.id != f.post.url:
            by_id[f.post.url].append(f)
    for post_id, group in by_id.items():
        slugs = {g.post.slug for g in group if g.post is not None}
        if len(group) < 2 or len(slugs) == 1:
            continue  # no collision, or one already reported as a slug collision
        for f in group:
            others = ", ".join(g.source for g in group if g is not f)
            errors.append(Problem(f.source, f.id_line, f"id: {post_id!r} is also used by {others}"))

    warnings.extend(_tag_collisions(good))
    posts = [f.post for f in good if f.post is not None]
    drafts = sum(1 for p in posts if p.draft)
    future = sum(1 for p in posts if not p.draft and p.date > now)
    published = [p for p in posts if not p.draft and p.date <= now]
    # A tag's display name is the spelling of the oldest published post that uses it.
    names: dict[str, str] = {}
    for post in sorted(published, key=lambda p: (p.date, p.slug)):
        for tag in post.tags:
            names.setdefault(tag.slug, tag.name)
    published = [
        p
        if all(names[t.slug] == t.name for t in p.tags)
        else dataclasses.replace(p, tags=tuple(Tag(names[t.slug], t.slug) for t in p.tags))
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
