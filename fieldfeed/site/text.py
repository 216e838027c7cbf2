"""Text helpers: XML-safe text, plain text from HTML, summaries and read times.

Slugs and tag spellings are in :mod:`fieldfeed.names` (the store and the mail need them too).

Everything here is pure: strings in, strings (or numbers) out. No IO, no clock, no settings.
"""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser

__all__ = [
    "PlainText",
    "html_to_text",
    "paragraphs",
    "read_minutes",
    "strip_control_chars",
    "summarize",
    "word_count",
]

# XML 1.0 Char excludes C0 controls other than tab/LF/CR, U+FFFE, U+FFFF and surrogates; a
# Python str can hold lone surrogates (from surrogateescape or bad JSON) and lxml refuses them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def strip_control_chars(text: str) -> tuple[str, int]:
    """Remove characters XML 1.0 forbids; return the clean text and how many were removed."""
    return _XML_INVALID.subn("", text)


# Elements whose content never belongs in plain text (code blocks, footnote machinery, scripts).
_SKIP_TAGS = frozenset({"pre", "script", "style", "template", "svg", "math"})
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption",
        "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
        "nav", "ol", "p", "section", "table", "tbody", "tfoot", "thead", "tr", "ul", "br",
    }
)  # fmt: skip
#: A table row is one paragraph; its cells are words apart (a paragraph per cell would turn
#: a table in a summary into a column of one-word lines).
_CELL_TAGS = frozenset({"td", "th"})
_VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
_WS = re.compile(r"\s+")


class _TextExtractor(HTMLParser):
    """Collect text, breaking paragraphs at block elements and skipping code and footnotes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._current: list[str] = []
        # Stack of open tags; a truthy entry means "everything inside is skipped".
        self._stack: list[tuple[str, bool]] = []
        self._skipping = 0

    def _flush(self) -> None:
        text = _WS.sub(" ", "".join(self._current)).strip()
        if text:
            self.paragraphs.append(text)
        self._current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._flush()
        elif tag in _CELL_TAGS and not self._skipping:
            self._current.append(" ")
        if tag in _VOID_TAGS:
            return
        classes = ""
        for name, value in attrs:
            if name == "class" and value:
                classes = value
        skip = (
            tag in _SKIP_TAGS
            # python-markdown footnotes: <sup><a class="footnote-ref"> and <div class="footnote">
            or (tag in ("div", "section") and "footnote" in classes.split())
            or (tag == "a" and "footnote-ref" in classes.split())
            or (tag == "sup" and any(n == "id" and (v or "").startswith("fnref") for n, v in attrs))
            or (tag == "div" and "toc" in classes.split())
        )
        self._stack.append((tag, skip))
        if skip:
            self._skipping += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID_TAGS:
            if tag in _BLOCK_TAGS:
                self._flush()
            return
        # Close up to the matching open tag, tolerating sloppy nesting.
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                for _, skipped in self._stack[i:]:
                    if skipped:
                        self._skipping -= 1
                del self._stack[i:]
                break
        if tag in _BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self._current.append(data)

    def text(self) -> str:
        self._flush()
        return "\n\n".join(self.paragraphs)


def html_to_text(html: str) -> str:
    """Plain text of rendered HTML, for summaries, word counts and email text parts.

    Paragraphs (block elements) are separated by a blank line, whitespace inside them is
    collapsed and entities are unescaped. Code blocks (``<pre>``), footnote references and the
    footnote list are dropped; inline ``<code>`` keeps its text.
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return parser.text()


class PlainText:
    """``html_to_text`` driven by events instead of a string, with the same rules.

    For a caller that already holds the document as a tree (:mod:`fieldfeed.site.markdown`
    walks python-markdown's ElementTree) and would otherwise serialise it and parse it again:
    call ``start``/``end``/``data`` in document order, ``fragment`` for a piece of raw HTML,
    then ``text()``.
    """

    __slots__ = ("_parser",)

    def __init__(self) -> None:
        self._parser = _TextExtractor()

    def start(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._parser.handle_starttag(tag, attrs)

    def end(self, tag: str) -> None:
        self._parser.handle_endtag(tag)

    def data(self, text: str) -> None:
        """Text with entities already decoded."""
        self._parser.handle_data(text)

    @property
    def skipping(self) -> bool:
        """Whether text given now would be dropped (inside a code block or footnotes)."""
        return self._parser._skipping > 0

    def fragment(self, html: str) -> bool:
        """Feed raw HTML. False when it leaves the parser mid-construct (an unfinished tag, an
        open ``<script>``): then what follows would not be parsed the way one string would."""
        parser = self._parser
        parser.feed(html)
        return not parser.rawdata and parser.cdata_elem is None

    def text(self) -> str:
        return self._parser.text()


_BLANK_LINE = re.compile(r"\n[^\S\n]*\n\s*")


def paragraphs(text: str) -> str:
    """``text`` with whitespace collapsed inside each paragraph and one blank line between
    paragraphs (a line holding only whitespace separates them, as in Markdown).

    The shape of every summary: plain text that keeps its paragraph breaks, so a digest, a
    feed or a text mail can show them instead of gluing the paragraphs into one.
    """
    parts = (_WS.sub(" ", part).strip() for part in _BLANK_LINE.split(text))
    return "\n\n".join(part for part in parts if part)


def summarize(text: str, limit: int) -> str:
    """:func:`paragraphs` of ``text``, cut at a word boundary to at most ``limit`` chars.

    A cut text ends with "…", so the result is never longer than ``limit + 1``. A first word
    longer than ``limit`` is cut mid-word (the only case that splits a word). A paragraph
    break counts as two characters.
    """
    limit = max(limit, 1)
    tidy = paragraphs(text)
    if len(tidy) <= limit:
        return tidy
    head = tidy[: limit + 1]
    cut = max(head.rfind(" "), head.rfind("\n"))
    kept = head[:cut] if cut > 0 else tidy[:limit]
    # Trailing punctuation before an ellipsis reads badly ("cache, …"); so does a cut just
    # after a paragraph break.
    return (kept.rstrip(" \n,;:–—-") or kept) + "…"


def word_count(text: str) -> int:
    """Whitespace-separated words in plain text."""
    return len(text.split())


def read_minutes(words: int, wpm: int) -> int:
    """Minutes to read ``words`` at ``wpm`` words per minute: rounded up, at least 1."""
    return max(1, math.ceil(words / max(wpm, 1)))
