"""Posts from their source: one file to a validated, rendered Post, the whole site to SiteContent.

Pure: nothing here walks folders, reads files or touches the build cache; that is
:mod:`fieldfeed.site.content`, which calls :func:`parse_post` for each file (in a process pool
when there are many) and :func:`fieldfeed.site.assembly.assemble` once for the site. Each
problem is a value in the result, so every file can be checked before anything fails.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import posixpath
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType
from urllib.parse import quote, unquote, urljoin
from zoneinfo import ZoneInfo

import markdown
import yaml

from fieldfeed import limits, model, names, permalinks
from fieldfeed.config import Settings
from fieldfeed.errors import Problem, display_path
from fieldfeed.limits import (
    MAX_BODY_BYTES,
    MAX_NESTING,
    MAX_TITLE_CHARS,
    markdown_problem,
)
from fieldfeed.model import Post
from fieldfeed.names import slugify
from fieldfeed.site import frontmatter, metadata, templatesyntax, text
from fieldfeed.site import markdown as markdown_module
from fieldfeed.site.frontmatter import (
    FrontMatterError,
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
    #: ``categories``/``category`` join the tags (``[content] categories_as_tags``).
    categories_as_tags: bool = True
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
            categories_as_tags=settings.content.categories_as_tags,
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
    modules = (
        *(frontmatter, limits, markdown_module, metadata, model, names, permalinks),
        *(templatesyntax, text),
        sys.modules[__name__],
    )
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
    #: Line of the ``permalink``/``url`` key (else as slug_line), for duplicate links.
    url_line: int = 0
    #: Line of the ``tags`` key, for tag spelling messages.
    tags_line: int = 0
    #: References to other posts (file lines), placeholders in the post's HTML until
    #: :func:`fieldfeed.site.crossrefs.link_references` resolves them.
    refs: tuple[templatesyntax.Ref, ...] = ()
    #: Hugo's ``expiryDate``: from then on the post is left out like a draft.
    expires: datetime | None = None
    #: ``(key, line, message)`` per unknown front-matter key (warnings, grouped by assemble).
    unknown_keys: tuple[tuple[str, int, str], ...] = ()
    #: A file in Jekyll's ``_drafts/`` without a date: counted as a draft, nothing more.
    undated_draft: bool = False


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

    keys = metadata.normalize_keys(fm.meta, fm.key_lines)
    meta, lines = keys.meta, keys.lines
    tz = _zone(options.timezone)

    def error(key: str | None, message: str) -> None:
        line = lines.get(key, fm.start_line) if key else fm.start_line
        shown = keys.spelled.get(key, key) if key else None
        problems.append(Problem(source, line, f"{shown}: {message}" if shown else message))

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
    publish, expires = metadata.publish_window(meta, tz, error)
    unpublished = metadata.in_drafts_folder(source, options.content_prefix)
    if meta.get("date") is not None:
        unread: list[str] = []
        posted = meta_datetime(meta["date"], tz, "date", lambda _key, msg: unread.append(msg))
        same_day = str(meta["date"]).strip().startswith(stem[:10])
        fallback = _prefix_date(prefixed, tz) if posted is None and same_day else None
        if fallback is not None:
            # Jekyll reads dates leniently (Ruby's Time.parse), so a migrated blog may hold one
            # we cannot read after a valid day ('2023-01-29 18:30:22 2023 -0800'); when that
            # day is the file name's, it keeps the post (and its URL) rather than stopping the
            # whole build on one typo. Anything else ('tomorrow') stays an error.
            line = lines.get("date", fm.start_line)
            message = f"date: {unread[0]}; using the file name's date {stem[:10]}"
            problems.append(Problem(source, line, message, warning=True))
            posted = fallback
        elif posted is None:
            error("date", unread[0])
    elif prefixed:
        try:
            y, m, d = (int(g) for g in prefixed.groups()[:3])
            posted = datetime(y, m, d, tzinfo=tz)
        except ValueError:
            error(None, f"date: the file name's date prefix {stem[:10]!r} is not a valid date")
    elif not publish and not unpublished:  # Jekyll's drafts have no date
        error("date", "required (or start the file name with YYYY-MM-DD-)")
    posted = metadata.publish_date(posted, publish)
    updated_key = metadata.first_key(meta, metadata.UPDATED_KEYS)
    updated = meta_datetime(meta[updated_key], tz, updated_key, error) if updated_key else None
    if posted is not None and (updated is None or updated < posted):
        updated = posted

    tags = metadata.read_tags(meta.get("tags"), error)
    if options.categories_as_tags:
        tags = metadata.with_categories(tags, metadata.categories(meta, error), error)
    summary_raw = meta_string(meta, "summary", error)
    author = metadata.author(meta, error)
    slug_raw = meta_string(meta, "slug", error)
    id_raw = meta_string(meta, "id", error)
    image_raw = meta_string(meta, "image", error)
    if image_raw is not None and templatesyntax.has_syntax(image_raw):
        line = lines.get("image", fm.start_line)
        message = f"image: template syntax in {image_raw.strip()!r}: no image is published"
        problems.append(Problem(source, line, message, warning=True))
        image_raw = None
    draft = meta.get("draft", False)
    if draft is None:
        draft = False
    if not isinstance(draft, bool):
        error("draft", f"expected true or false, got {draft!r}")
        draft = False
    draft = metadata.hidden(meta, error) or unpublished or draft

    found = markdown_problem(fm.body)
    if found is not None:
        problems.append(Problem(source, fm.body_line + found[0], found[1]))
    found = markdown_problem(summary_raw) if summary_raw else None
    if found is not None:
        error("summary", found[1])

    unknown = metadata.unknown_keys(keys)
    if any(not p.warning for p in problems) or title is None or posted is None:
        undated = unpublished and posted is None and title is not None
        if undated and not any(not p.warning for p in problems):
            return ParsedFile(
                source, None, tuple(problems), unknown_keys=unknown, undated_draft=True
            )
        return ParsedFile(source, None, tuple(problems), unknown_keys=unknown)

    slug = slugify(slug_raw) if slug_raw and slug_raw.strip() else None
    if slug is None:
        slug = permalinks.file_slug(prefixed.group(4) if prefixed else stem)
    category, categories = permalinks.post_category(meta), permalinks.post_categories(meta)
    places = permalinks.PostPlaces(slug, posted.astimezone(tz), category, categories)
    try:
        url = permalinks.post_url(meta, places, options.site_url, options.post_path)
    except permalinks.PermalinkError as exc:
        error(exc.key, exc.message)
        return ParsedFile(source, None, tuple(problems))
    assets = options.asset_resolver(source)
    has_summary = summary_raw is not None and bool(summary_raw.strip())
    try:
        rendered = render_markdown(fm.body, url, assets, site_url=options.site_url)
        summary = paragraphs(render_summary(summary_raw or "")) if has_summary else ""
    except RecursionError:  # nesting the line scan does not see (inline: links, emphasis)
        message = f"too deeply nested to render (at most {MAX_NESTING} levels)"
        return failed_file(source, fm.body_line, message, problems)
    for note in rendered.notes:
        problems.append(Problem(source, fm.body_line + note.line, note.message, warning=True))
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
        url_line=lines.get("permalink", lines.get("url", lines.get("slug", fm.start_line))),
        tags_line=lines.get("tags", fm.start_line),
        refs=tuple(dataclasses.replace(r, line=fm.body_line + r.line) for r in rendered.refs),
        expires=expires,
        unknown_keys=unknown,
    )


def _image_url(raw: str | None, url: str, assets: AssetResolver | None) -> str | None:
    """The ``image`` key as an absolute URL: a file beside the post, else against the post."""
    if not raw or not raw.strip():
        return None
    value = raw.strip()
    found = assets(value) if assets is not None and "://" not in value else None
    return found or urljoin(url, value)


def _prefix_date(prefixed: re.Match[str] | None, tz: ZoneInfo) -> datetime | None:
    """Midnight (site time) of a file name's ``YYYY-MM-DD-`` prefix; None if absent or invalid."""
    if prefixed is None:
        return None
    try:
        y, m, d = (int(g) for g in prefixed.groups()[:3])
        return datetime(y, m, d, tzinfo=tz)
    except ValueError:
        return None


def failed_file(
    source: str, line: int, message: str, earlier: list[Problem] | None = None
) -> ParsedFile:
    """The result for a file that yields no post: its problem (after ``earlier`` ones)."""
    return ParsedFile(source, None, (*(earlier or ()), Problem(source, line, message)))


@functools.cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
