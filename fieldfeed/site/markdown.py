"""Markdown to feed-ready HTML: rendered once, with every link and image made absolute.

Pure apart from a per-process Markdown instance (construction costs more than a typical post,
so it is built once and ``reset()`` between posts).
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin
from xml.etree.ElementTree import HTML_EMPTY, Element

import markdown
from markdown.inlinepatterns import (
    ImageInlineProcessor,
    ImageReferenceInlineProcessor,
    LinkInlineProcessor,
    ReferenceInlineProcessor,
    ShortImageReferenceInlineProcessor,
    ShortReferenceInlineProcessor,
)
from markdown.postprocessors import RawHtmlPostprocessor
from markdown.serializers import RE_AMP
from markdown.treeprocessors import Treeprocessor
from markdown.util import AMP_SUBSTITUTE, HTML_PLACEHOLDER_RE

from fieldfeed.site.templatesyntax import Note, Ref, preprocess
from fieldfeed.site.text import PlainText, html_to_text

#: Maps a relative URL to the absolute URL of a published asset, or None when it names none.
AssetResolver = Callable[[str], str | None]

__all__ = [
    "MORE_MARKER",
    "RENDERER_VERSION",
    "Rendered",
    "absolutize_urls",
    "render_markdown",
    "render_summary",
]

#: Bump when the HTML for the same Markdown changes, so build caches are invalidated.
RENDERER_VERSION = "4"

#: Text before this marker is the post's summary when it has no ``summary`` key.
MORE_MARKER = "<!-- more -->"
_MORE = re.compile(r"<!--\s*more\s*-->", re.IGNORECASE)

# No codehilite: feed readers apply no site stylesheet, so Pygments' class-per-token spans
# would only bloat every code block (and cost ~14% of a cold build). Fenced code keeps
# ``<pre><code class="language-python">``, the hint readers that highlight do understand.
_EXTENSIONS = ["fenced_code", "tables", "toc", "footnotes", "sane_lists"]
_EXTENSION_CONFIGS: dict[str, dict[str, Any]] = {
    # Permalink-free ids; the anchors themselves are left to the reader's stylesheet.
    "toc": {"permalink": False},
}
_md: markdown.Markdown | None = None
_summary_md: markdown.Markdown | None = None


@dataclass(frozen=True, slots=True)
class Rendered:
    """A post body as HTML."""

    #: The full HTML, links absolute.
    html: str
    #: The HTML before ``<!-- more -->`` when the body has one, else None.
    teaser: str | None
    #: Plain text of the whole body: exactly ``text.html_to_text(html)``, taken from the
    #: Markdown tree instead of parsing the HTML again (about a fifth of a post's render time).
    text: str
    #: Warnings about Jekyll/Hugo template syntax (0-based body lines); see templatesyntax.
    notes: tuple[Note, ...] = ()
    #: References to other posts, left as ``fieldfeed-ref:<index>;`` placeholders in ``html``.
    refs: tuple[Ref, ...] = ()


def _markdown() -> markdown.Markdown:
    global _md
    if _md is None:
        _md = markdown.Markdown(
            extensions=_EXTENSIONS, extension_configs=_EXTENSION_CONFIGS, output_format="html"
        )
        # After every other tree processor (unescape is at 0), just before serialisation.
        _md.treeprocessors.register(_PlainTextProcessor(_md), "fieldfeed_text", -10)
        _linear_link_scans(_md)
    return _md


def _summary_markdown() -> markdown.Markdown:
    """The Markdown reader for front-matter summaries: the post's syntax without raw HTML."""
    global _summary_md
    if _summary_md is None:
        md = markdown.Markdown(
            extensions=_EXTENSIONS, extension_configs=_EXTENSION_CONFIGS, output_format="html"
        )
        # Without these two, "<Kaffee>" is text (escaped in the HTML) instead of a tag that
        # the plain text would drop. Entities ("&amp;") and autolinks ("<https://…>") are
        # other processors and still read.
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.treeprocessors.register(_PlainTextProcessor(md), "fieldfeed_text", -10)
        _linear_link_scans(md)
        _summary_md = md
    return _summary_md


class _BracketScan:
    """The matching ``]`` of each ``[`` in one string, scanned once, left to right, only as
    far as a caller has asked.

    A ``[``'s match does not depend on what precedes it (brackets opened earlier stay
    below it on the stack; a ``]`` with nothing open is skipped), so one scan serves every
    ``[`` after where it started.
    """

    __slots__ = ("data", "match", "pos", "stack", "start")

    def __init__(self, data: str, start: int) -> None:
        self.data = data
        self.start = start
        self.pos = start
        self.stack: list[int] = []
        self.match: dict[int, int] = {}

    def closing(self, opener: int) -> int | None:
        """Where the ``[`` at ``opener`` closes, or None when it never does."""
        data = self.data
        while opener not in self.match and self.pos < len(data):
            m = _BRACKET.search(data, self.pos)
            if m is None:
                self.pos = len(data)
                break
            self.pos = m.end()
            if m.group() == "[":
                self.stack.append(m.start())
            elif self.stack:
                self.match[self.stack.pop()] = m.start()
        return self.match.get(opener)


class _LinearLinkText:
    """python-markdown's ``getText`` (the text of ``[...]`` in links and images) in linear
    time over a paragraph.

    The stock ``getText`` scans to the end of the paragraph for every ``[`` that is never
    closed, character by character, so thousands of them cost quadratic time (10,000 took
    17 s). This one answers from a bracket scan kept across calls on the same text. Same
    results: the same nesting rule, the same text and end index.
    """

    _scan: _BracketScan | None = None

    def getText(self, data: str, index: int) -> tuple[str, int, bool]:
        opener = index - 1  # every link pattern ends with the "[" it matched
        scan = self._scan
        if scan is None or scan.data is not data or opener < scan.start:
            scan = self._scan = _BracketScan(data, opener)
        close = scan.closing(opener) if data[opener:index] == "[" else None
        if close is None:
            return data[index:], len(data), False
        return data[index:close], close + 1, True


_BRACKET = re.compile(r"[\[\]]")
#: The link and image processors python-markdown registers, by name, and their priority.
_LINK_PROCESSORS = {
    "reference": (ReferenceInlineProcessor, 170),
    "link": (LinkInlineProcessor, 160),
    "image_link": (ImageInlineProcessor, 150),
    "image_reference": (ImageReferenceInlineProcessor, 140),
    "short_reference": (ShortReferenceInlineProcessor, 130),
    "short_image_ref": (ShortImageReferenceInlineProcessor, 125),
}


def _linear_link_scans(md: markdown.Markdown) -> None:
    """Register each link processor again as a subclass with the linear scan (same name,
    pattern and priority as python-markdown's own)."""
    for name, (base, priority) in _LINK_PROCESSORS.items():
        stock = md.inlinePatterns[name]
        assert type(stock) is base, f"python-markdown changed its {name!r} processor"
        bounded = type(f"Linear{base.__name__}", (_LinearLinkText, base), {})
        md.inlinePatterns.register(bounded(stock.pattern, md), name, priority)


def render_markdown(
    body: str, base_url: str, assets: AssetResolver | None = None, *, site_url: str | None = None
) -> Rendered:
    """Render Markdown and resolve relative URLs against ``base_url`` (the permalink).

    A relative URL that names a file beside the post (``images/plot.svg``) resolves to that
    file's published URL through ``assets`` instead. With ``site_url``, Jekyll and Hugo
    template syntax is handled first (:mod:`fieldfeed.site.templatesyntax`).
    """
    global _md
    pre = preprocess(body, site_url) if site_url is not None else None
    if pre is not None:
        body = pre.markdown
    md = _markdown()
    processor = md.treeprocessors["fieldfeed_text"]
    assert isinstance(processor, _PlainTextProcessor)
    processor.text = None
    try:
        html = md.convert(body)
        text = processor.text
    except RecursionError:
        _md = None  # a fresh instance for the next post: this one stopped mid-conversion
        raise
    finally:
        processor.text = None
        md.reset()
    if text is None:  # something the tree walk does not mirror exactly: parse the output
        text = html_to_text(html)
    # absolutize_urls changes attribute values only, never text.
    html = absolutize_urls(html, base_url, assets)
    notes: tuple[Note, ...] = ()
    if pre is not None:
        html, text, notes = pre.finish(html, text)
    more = _MORE.search(html)
    teaser = html[: more.start()] if more else None
    refs = pre.refs if pre is not None else ()
    return Rendered(html=html, teaser=teaser, text=text, notes=notes, refs=refs)


def render_summary(source: str) -> str:
    """A ``summary`` from front matter as the plain text the README promises.

    Markdown emphasis, links and code spans are read and reduced to their text (Jekyll's,
    Hugo's and Pelican's summaries are Markdown, so imported posts read the same), but
    nothing is taken as HTML: "<Kaffee>" stays visible, where it used to vanish as an unknown
    tag. Paragraphs stay separated by a blank line (``site.text.html_to_text``'s form).
    """
    global _summary_md
    md = _summary_markdown()
    processor = md.treeprocessors["fieldfeed_text"]
    assert isinstance(processor, _PlainTextProcessor)
    processor.text = None
    try:
        html = md.convert(source)
        text = processor.text
    except RecursionError:
        _summary_md = None
        raise
    finally:
        processor.text = None
        md.reset()
    return text if text is not None else html_to_text(html)


class _Unsupported(Exception):
    """The tree holds something whose serialised form the walk does not mirror exactly."""


class _PlainTextProcessor(Treeprocessor):
    """Plain text from the finished ElementTree, the same as ``html_to_text`` of the HTML
    python-markdown is about to write.

    It replays what the serialiser and the post-processors will do to the tree: text is
    escaped the way ``_escape_cdata`` escapes it (a ``&`` that already starts an entity is
    kept) and then decoded the way HTMLParser decodes it; raw HTML held in the stash
    (code blocks from fenced_code, inline and block HTML, ``&copy;``) is fed to
    the same parser where ``RawHtmlPostprocessor`` will put it back, including its rule that
    ``<p>`` around a block-level placeholder disappears. Anything it does not mirror (a
    comment node, a placeholder left in kept text) leaves ``text`` as None, and the caller
    parses the HTML instead.
    """

    text: str | None = None

    def run(self, root: Element) -> None:
        raw = self.md.postprocessors["raw_html"]
        assert isinstance(raw, RawHtmlPostprocessor)
        walk = _TreeText(self.md.htmlStash.rawHtmlBlocks, self.md.htmlStash.html_counter, raw)
        try:
            if root.text:
                walk.text(root.text)
            for child in root:
                walk.element(child)
        except _Unsupported:
            self.text = None
        else:
            self.text = walk.out.text()


_STX, _ETX = "\x02", "\x03"


class _TreeText:
    def __init__(self, stash: list[Any], count: int, raw: RawHtmlPostprocessor) -> None:
        self.stash = stash
        self.count = count
        self.raw = raw
        self.out = PlainText()

    def element(self, el: Element) -> None:
        tag = el.tag
        if not isinstance(tag, str):
            raise _Unsupported  # Comment, ProcessingInstruction, QName
        text = el.text
        if tag == "p" and text and not el.attrib and not len(el):
            m = HTML_PLACEHOLDER_RE.fullmatch(text)
            if m and int(m.group(1)) < self.count:
                html = self.raw.stash_to_string(self.stash[int(m.group(1))])
                if self.raw.isblocklevel(html):  # RawHtmlPostprocessor drops the <p>
                    self.fragment(html)
                    if el.tail:
                        self.text(el.tail)
                    return
        name = tag.lower()
        self.out.start(name, [(k, v) for k, v in el.items()])
        if text:
            if name in ("script", "style"):
                raise _Unsupported  # written unescaped
            self.text(text)
        for child in el:
            self.element(child)
        if name not in HTML_EMPTY:
            self.out.end(name)
        if el.tail:
            self.text(el.tail)

    def text(self, value: str) -> None:
        if _STX not in value:
            self.data(value)
            return
        pos = 0
        for m in HTML_PLACEHOLDER_RE.finditer(value):
            if m.start() > pos:
                self.data(value[pos : m.start()])
            index = int(m.group(1))
            if index < self.count:
                self.fragment(self.raw.stash_to_string(self.stash[index]))
            else:
                self.data(m.group(0))  # left as is by RawHtmlPostprocessor
            pos = m.end()
        if pos < len(value):
            self.data(value[pos:])

    def data(self, value: str) -> None:
        if self.out.skipping:
            return
        if "&" in value:
            value = RE_AMP.sub("&amp;", value)
        if _STX in value:
            value = value.replace(AMP_SUBSTITUTE, "&")
        if "&" in value:
            value = htmllib.unescape(value)
        if _STX in value or _ETX in value:
            raise _Unsupported  # a placeholder a later post-processor would have replaced
        self.out.data(value)

    def fragment(self, html: str) -> None:
        if self.count and _STX in html:
            html = self.raw.run(html)  # nested placeholders, as the post-processor does
        if _STX in html:
            html = html.replace(AMP_SUBSTITUTE, "&")
        if not self.out.fragment(html):
            raise _Unsupported


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
