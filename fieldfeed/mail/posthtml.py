"""A post's full HTML made fit for a mail client (``[digest] content = "full"``). Pure: no IO.

The body is the writer's HTML from Markdown, which may hold raw HTML. Mail clients run no
scripts, but a ``<script>``, ``<iframe>`` or ``<form>`` that reaches a message still gets it
flagged as spam or shows a broken box, and ``style``/``on*`` attributes can break the layout or
leak: nh3 (the Ammonia sanitizer) keeps its well-known safe set of tags and attributes and
drops the rest. Then, on the cleaned tree (lxml):

- every ``src``/``href`` is made absolute against the post's URL (a mail has no base URL);
- images get ``width`` at most :data:`BODY_WIDTH` (Outlook for Windows sizes images by the
  attribute alone and ignores max-width) and a ``max-width:100%; height:auto`` style for
  every other client; an image without a width gets the full width attribute for Outlook and
  ``width:auto`` for the rest (its own size, capped at the column);
- each table is wrapped in a ``<div class="ff-scroll">`` that scrolls sideways, so a wide
  table never widens the message on a phone.

The look (code blocks that wrap, table borders, dark mode) is CSS in the template, on
``.ff-body`` descendants, which premailer inlines like the rest.
"""

from __future__ import annotations

import re
import textwrap
from urllib.parse import urljoin

import lxml.html
import nh3

from fieldfeed.site.text import html_to_text

#: The content column of the 600 px card (600 - 2 x 28 px padding - 2 px border), in px.
BODY_WIDTH = 540

#: Ammonia's safe tags without image maps (an area's href is a link the reader cannot see).
_TAGS = set(nh3.ALLOWED_TAGS) - {"map", "area"}


def mail_safe_html(html: str, base_url: str) -> str:
    """``html`` sanitized for mail: no scripts, frames, forms, styles or event handlers;
    absolute URLs; width-limited images; tables in a sideways-scrolling box."""
    cleaned = nh3.clean(html, tags=_TAGS)
    if not cleaned.strip():
        return ""
    root = lxml.html.fragment_fromstring(cleaned, create_parent="div")
    for el in root.iter("a", "img"):
        attr = "href" if el.tag == "a" else "src"
        value = el.get(attr)
        if value:
            el.set(attr, urljoin(base_url, value))
    for img in root.iter("img"):
        _fit_image(img)
    for table in list(root.iter("table")):
        parent = table.getparent()
        if parent is None or parent.get("class") == "ff-scroll":
            continue
        box = lxml.html.Element("div", {"class": "ff-scroll"})
        box.tail, table.tail = table.tail, None
        parent.replace(table, box)
        box.append(table)
    inner = str(lxml.html.tostring(root, encoding="unicode"))
    return inner[len("<div>") : -len("</div>")]


def _fit_image(img: lxml.html.HtmlElement) -> None:
    width = _pixels(img.get("width"))
    if width is None:
        img.set("width", str(BODY_WIDTH))
        img.attrib.pop("height", None)
        img.set("style", "width:auto; max-width:100%; height:auto;")
        return
    if width > BODY_WIDTH:
        img.set("width", str(BODY_WIDTH))
        img.attrib.pop("height", None)  # the height would stretch the scaled image
    img.set("style", "max-width:100%; height:auto;")


def _pixels(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


_CODE_MARK = "XXFFCODE{}XX"
_MARK_RE = re.compile(r"XXFFCODE(\d+)XX")


def body_text(html: str) -> str:
    """Plain text of a post body for the text part, paragraphs wrapped at 72 columns and code
    blocks kept verbatim (indented four spaces, as Markdown writes them) and tables one line a
    row, unlike :func:`fieldfeed.site.text.html_to_text`, which
    drops them from summaries."""
    cleaned = nh3.clean(html, tags=_TAGS)
    if not cleaned.strip():
        return ""
    root = lxml.html.fragment_fromstring(cleaned, create_parent="div")
    blocks: list[str] = []
    for pre in list(root.iter("pre")):
        code = pre.text_content().rstrip("\n")
        blocks.append("\n".join("    " + line if line else "" for line in code.split("\n")))
        mark = lxml.html.Element("p")
        mark.text = _CODE_MARK.format(len(blocks) - 1)
        mark.tail = pre.tail
        parent = pre.getparent()
        assert parent is not None
        parent.replace(pre, mark)
    for table in list(root.iter("table")):
        # A table reads row by row: "cell | cell | cell", one line a row.
        rows = lxml.html.Element("p")
        lines = [
            " | ".join(" ".join(c.text_content().split()) for c in tr if c.tag in ("td", "th"))
            for tr in table.iter("tr")
        ]
        blocks.append("\n".join(lines))
        rows.text = _CODE_MARK.format(len(blocks) - 1)
        rows.tail = table.tail
        parent = table.getparent()
        assert parent is not None
        parent.replace(table, rows)
    text = html_to_text(lxml.html.tostring(root, encoding="unicode"))
    paragraphs = []
    for para in text.split("\n\n"):
        code = _MARK_RE.fullmatch(para.strip())
        if code:
            paragraphs.append(blocks[int(code.group(1))])
        else:
            wrapped = textwrap.fill(para, 72, break_long_words=False, break_on_hyphens=False)
            paragraphs.append(wrapped)
    return "\n\n".join(paragraphs)
