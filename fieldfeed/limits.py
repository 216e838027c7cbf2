"""Per-post and per-file limits: what hostile content can make a build do is bounded here.

A post is content anyone with a pull request can write (issue 7, items 6 and 7), so each
parser gets input it can finish quickly and without exhausting the stack or memory. Every
limit is far above what a real post uses (documented in docs/configuration.md, "Limits"); a
post past one fails alone, with its file and line, instead of hanging or crashing the build.

Pure: text in, a line number (or None) out.
"""

from __future__ import annotations

import re

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_FRONT_MATTER_VALUES",
    "MAX_HTML_SCAN",
    "MAX_NESTING",
    "MAX_TAGS",
    "MAX_TITLE_CHARS",
    "html_scan_cost",
    "markdown_nesting",
    "markdown_problem",
    "toml_nesting",
]

#: A post file's size. A 100,000-word essay is about 700 KB of Markdown.
MAX_BODY_BYTES = 2 * 1024 * 1024
#: Values front matter may hold once YAML aliases are expanded (each use counts again): a
#: "billion laughs" alias bomb expands nine aliases nine times over, to 387 million.
MAX_FRONT_MATTER_VALUES = 10_000
#: Levels of nesting: lists in lists and quotes in quotes in Markdown, arrays and tables in
#: front matter and fieldfeed.toml. Python's parsers recurse per level (the stack runs out
#: at a few hundred list levels); real posts rarely pass 5.
MAX_NESTING = 50
#: Tags on one post.
MAX_TAGS = 100
#: Characters in a title (feed readers and mail clients show about 80).
MAX_TITLE_CHARS = 1_000
#: Characters Python's HTML parser (3.11 before CPython gh-135462) scans for the ``>`` of tags
#: that never close: summed over every ``<name`` in a post. 10,000 unclosed ``<a `` cost
#: 150 million (11 s); a real post costs about its own length.
MAX_HTML_SCAN = 20_000_000

_QUOTE_PREFIX = re.compile(r" {0,3}>")
_TAG_START = re.compile(r"<[A-Za-z]")


def markdown_nesting(body: str, limit: int = MAX_NESTING) -> int | None:
    """The 0-based line of ``body`` where lists or block quotes nest deeper than ``limit``,
    or None. Depth is the number of ``>`` markers plus the indentation in steps of four
    columns (python-markdown's tab length), so it over-counts an indented code block at most
    by a level or two."""
    for number, line in enumerate(body.split("\n")):
        quotes = 0
        rest = line
        while True:
            m = _QUOTE_PREFIX.match(rest)
            if m is None:
                break
            quotes += 1
            rest = rest[m.end() :]
        expanded = rest.expandtabs(4)
        indent = len(expanded) - len(expanded.lstrip(" "))
        if quotes + indent // 4 > limit:
            return number
    return None


def html_scan_cost(body: str) -> tuple[int, int]:
    """What Python's HTML parser will scan for the ends of start tags in ``body``: the sum,
    over every ``<name``, of the distance to the next ``>``; and the 0-based line of the
    first ``<name`` with no ``>`` before the next one (0 when there is none)."""
    cost = 0
    first_unclosed = -1
    gt = -1  # the next ">" at or after the current tag start; found once per ">", so linear
    for m in _TAG_START.finditer(body):
        start = m.start()
        if gt < start:
            gt = body.find(">", start)
            if gt < 0:
                gt = len(body)
        cost += gt - start
        if first_unclosed < 0:
            following = _TAG_START.search(body, start + 1, gt)
            if following is not None:
                first_unclosed = start
    line = body.count("\n", 0, first_unclosed) if first_unclosed >= 0 else 0
    return cost, line


def toml_nesting(text: str, limit: int = MAX_NESTING) -> int | None:
    """The 1-based line of TOML ``text`` where arrays or inline tables nest deeper than
    ``limit``, or None. tomllib recurses once per level and a few thousand levels raise
    RecursionError naming no file; this scan is linear and needs no stack. Strings and
    comments are skipped; a malformed file is left for tomllib to report."""
    depth = 0
    line = 1
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif c in "\"'":
            quote = c * 3 if text.startswith(c * 3, i) else c
            j = i + len(quote)
            while j < n and not text.startswith(quote, j):
                if c == '"' and text[j] == "\\":
                    j += 1
                elif text[j] == "\n" and len(quote) == 1:
                    break  # an unterminated one-line string: tomllib reports it
                j += 1
            line += text.count("\n", i, j)
            i = j + len(quote)
            continue
        elif c in "[{":
            depth += 1
            if depth > limit:
                return line
        elif c in "]}":
            depth = max(0, depth - 1)
        i += 1
    return None


def markdown_problem(body: str) -> tuple[int, str] | None:
    """Why ``body`` (Markdown) would take too long or too much stack to render: the 0-based
    line and a message, or None when it is within every limit."""
    deep = markdown_nesting(body)
    if deep is not None:
        return deep, f"lists or block quotes nested more than {MAX_NESTING} levels deep"
    cost, line = html_scan_cost(body)
    if cost > MAX_HTML_SCAN:
        return line, (
            "too many HTML tags left open (a '<' and a name with no '>' after them; "
            "write &lt; for a literal '<')"
        )
    return None
