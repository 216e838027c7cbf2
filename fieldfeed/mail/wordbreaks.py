"""Plain text made safe for a mail's narrow column: escaped, with break points in long words.

A 200-character URL or a 90-character commit hash in a post's title or summary has no place a
line may break, so the table cell holding it grows and the whole digest scrolls sideways on a
phone. The digest's CSS (``overflow-wrap: anywhere; word-break: break-word`` on the text
cells) fixes that wherever CSS is honoured. Outlook for Windows lays mail out with Word, which
ignores both; there the only break opportunities are in the text itself, so this module
inserts ``<wbr>`` (an optional break: invisible, not copied with the text, unlike a zero-width
space) into every long unbroken run, after URL punctuation where it can and at least every
:data:`CHUNK` characters. Short words are left alone: the break points cost bytes (Gmail's clip
budget) and nothing else needs them.

Pure: strings in, :class:`markupsafe.Markup` out.
"""

from __future__ import annotations

import re
import unicodedata

from markupsafe import Markup, escape

__all__ = ["CHUNK", "LONG_RUN", "breakable", "mail_text"]

#: A run of non-space characters longer than this gets break points (a 375 px phone column
#: holds about 30 characters of the 21 px title font).
LONG_RUN = 24
#: The most characters between two break points in a long run.
CHUNK = 12

_RUN = re.compile(rf"\S{{{LONG_RUN + 1},}}")
#: After these a URL, a path or an identifier reads naturally when broken.
_AFTER = frozenset("/.-_?&=#:,;@~+|\\")


def _no_break_before(char: str) -> bool:
    """True where a break would split one visible character (a combining accent, an emoji
    joined by ZWJ or modified by a variation selector or skin tone)."""
    return (
        unicodedata.combining(char) != 0
        or unicodedata.category(char) in ("Mn", "Mc", "Me", "Cf")
        or "\ufe00" <= char <= "\ufe0f"
        or "\U0001f3fb" <= char <= "\U0001f3ff"
    )


_WBR = Markup("<wbr>")


def _break_run(run: str) -> Markup:
    """``run`` escaped, with ``<wbr>`` after URL punctuation and every CHUNK characters."""
    out: list[Markup] = []
    since = 0  # characters since the last break point
    for i, char in enumerate(run):
        out.append(escape(char))
        since += 1
        if i + 1 == len(run):
            break
        following = run[i + 1]
        if char == "\u200d" or _no_break_before(following):
            continue
        if char in _AFTER or since >= CHUNK:
            out.append(_WBR)
            since = 0
    return Markup("").join(out)


def breakable(text: str) -> Markup:
    """``text`` HTML-escaped, its runs of more than :data:`LONG_RUN` non-space characters
    given ``<wbr>`` break points. Text without long runs is just escaped."""
    out: list[Markup] = []
    last = 0
    for match in _RUN.finditer(text):
        out.append(escape(text[last : match.start()]))
        out.append(_break_run(match.group()))
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def mail_text(text: str) -> Markup:
    """Plain text (a title, a summary) as HTML for a mail: :func:`breakable`, and paragraphs
    (separated by a blank line, as summaries are) kept apart by ``<br><br>``, which every mail
    client renders, inside the one ``<p>`` the template gives it."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    return Markup("<br><br>").join(breakable(p) for p in paragraphs)
