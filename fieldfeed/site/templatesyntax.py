"""Jekyll (Liquid) and Hugo (shortcode) syntax left in a post's Markdown.

Posts moved from Jekyll or Hugo still hold their generator's template syntax. Before Markdown
sees a body, :func:`preprocess` turns what has a plain meaning into Markdown or HTML:

- ``{% highlight LANG %}…{% endhighlight %}`` and ``{{< highlight LANG >}}…{{< /highlight >}}``
  become fenced code blocks (rendered like any fence: ``<pre><code class="language-LANG">``);
- ``{% raw %}``/``{% endraw %}`` markers go, and template syntax between them stays literal;
- ``{{ site.url }}``, ``{{ site.baseurl }}`` and ``{{ "/path" | relative_url }}`` (or
  ``absolute_url``) resolve against the site's URL;
- ``{{< figure src=… >}}`` becomes ``<figure><img><figcaption>``;
- ``{% post_url NAME %}``, ``{% link _posts/FILE %}`` and Hugo's ``ref``/``relref`` become a
  placeholder URL (:data:`REF_SCHEME`), a :class:`Ref`. They are resolved by
  :mod:`fieldfeed.site.crossrefs` once every post is loaded, so a cached rendering never holds
  another post's permalink and stays right when that post's URL changes.

Everything else (``{{ site.repository }}``, ``{% include %}``, other shortcodes) is kept as
visible text and reported as a warning. Such syntax is swapped for an inert token before
rendering and put back, escaped, afterwards (:meth:`Preprocessed.finish`), so it never becomes
HTML, and a link or image whose URL holds it is rendered without its URL (text kept).

Pure; no IO.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

__all__ = [
    "REF_PLACEHOLDER",
    "REF_SCHEME",
    "Note",
    "Preprocessed",
    "Ref",
    "drop_urls",
    "has_syntax",
    "preprocess",
]

#: The placeholder URL of a cross-post reference: ``fieldfeed-ref:<index>;``. A URL scheme,
#: so ``absolutize_urls`` leaves it alone (``urljoin`` never joins an unknown scheme).
REF_SCHEME = "fieldfeed-ref:"
REF_PLACEHOLDER = re.compile(r"fieldfeed-ref:(\d+);")


@dataclass(frozen=True, slots=True)
class Note:
    """A warning about template syntax; ``line`` is 0-based within the body."""

    line: int
    message: str


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference to another post, rendered as ``fieldfeed-ref:<index>;``."""

    #: ``post_url`` or ``link`` (Jekyll), ``ref`` or ``relref`` (Hugo).
    kind: str
    #: The target as written (quotes removed), e.g. ``2016-04-19-jekyll-3-0-4-released``.
    target: str
    #: 0-based line within the body (a file line once ``parse_post`` has shifted it).
    line: int
    #: The syntax as written, shown when the reference cannot be resolved.
    original: str


# One construct at a time, leftmost first. Bodies span at most a few hundred characters so
# an unclosed "{{" costs a bounded scan, never a quadratic one.
_SYNTAX = re.compile(
    r"""
    (?P<hugo_escaped>\{\{(?P<he_open>[<%])\s*/\*(?P<he_body>.{0,500}?)\*/\s*(?P=he_open)?[>%]\}\})
    | (?P<hugo>\{\{(?P<h_open><|%)\s*(?P<h_close>/)?\s*(?P<h_name>[\w./-]+)(?P<h_args>.{0,500}?)
        \s*(?:>|%)\}\})
    | (?P<tag>\{%-?\s*(?P<t_name>\w+)(?P<t_args>.{0,500}?)-?%\})
    | (?P<output>\{\{-?(?P<o_body>.{0,500}?)-?\}\})
    """,
    re.DOTALL | re.VERBOSE,
)
_ARG = re.compile(r"""(?P<key>\w+)\s*=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>\S+))""")
_URL_FILTER = re.compile(
    r"""^\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)')\s*\|\s*(?P<filter>relative_url|absolute_url)\s*$"""
)
_BACKTICKS = re.compile(r"`{3,}")
_URL_ATTR = re.compile(
    r"""\s(?P<name>href|src|srcset|poster|cite|data-src)\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+)""",
    re.IGNORECASE,
)
# A start tag, quoted values included (the same shape markdown.absolutize_urls rewrites).
_START_TAG = re.compile(
    r"""<(?P<name>[A-Za-z][^\s/<>]*)(?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>]+))?)*\s*/?>"""
)
_ALT = re.compile(r"""\salt\s*=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)')""", re.IGNORECASE)


@dataclass(slots=True)
class Preprocessed:
    """A body ready for Markdown, and what is needed to finish its HTML afterwards."""

    markdown: str
    refs: tuple[Ref, ...]
    #: Warnings found while scanning (links with template syntax are found in :meth:`finish`).
    notes: list[Note]
    #: Inert token prefix -> originals: ``<prefix><n>z`` stands for ``literals[n]``.
    prefix: str
    literals: list[tuple[str, int, bool]] = field(default_factory=list)

    def finish(self, html: str, text: str) -> tuple[str, str, tuple[Note, ...]]:
        """Put the kept syntax back (escaped) into rendered HTML and its plain text; drop the
        URL of any link or image that holds some. Returns the HTML, the text and the notes."""
        notes = list(self.notes)
        if not self.literals:
            return html, text, tuple(notes)
        token = re.compile(re.escape(self.prefix) + r"(\d+)z")
        in_urls: set[int] = set()

        def bad(url: str) -> bool:
            found = [int(n) for n in token.findall(url) if int(n) < len(self.literals)]
            in_urls.update(found)
            return bool(found)

        html = drop_urls(html, bad)
        for n in sorted(in_urls):
            original, line, _ = self.literals[n]
            notes.append(
                Note(line, f"{_show(original)} in a link or image URL: its URL is left out")
            )
        for n, (original, line, literal) in enumerate(self.literals):
            if not literal and n not in in_urls:
                notes.append(Note(line, f"{_show(original)} is not supported: left as text"))

        def back(escape: bool) -> Callable[[re.Match[str]], str]:
            def put(m: re.Match[str]) -> str:
                n = int(m.group(1))
                if n >= len(self.literals):
                    return m.group(0)
                original = self.literals[n][0]
                return htmllib.escape(original, quote=True) if escape else original

            return put

        html = token.sub(back(True), html)
        text = token.sub(back(False), text)
        return html, text, tuple(sorted(notes, key=lambda n: n.line))


def _show(original: str) -> str:
    flat = " ".join(original.split())
    return f"`{flat[:77]}...`" if len(flat) > 80 else f"`{flat}`"


def drop_urls(html: str, bad: Callable[[str], bool]) -> str:
    """Remove every URL attribute whose (unescaped) value ``bad`` rejects: a link keeps its
    text and loses its ``<a>``, an image becomes its alt text, other tags lose the attribute."""
    out: list[str] = []
    pos = 0
    drop_close = 0
    for m in _START_TAG.finditer(html):
        tag = m.group(0)
        hit = [a for a in _URL_ATTR.finditer(tag) if bad(htmllib.unescape(a.group(0)))]
        if not hit:
            continue
        name = m.group("name").lower()
        out.append(html[pos : m.start()])
        if name == "a":
            drop_close += 1
            replacement = ""
        elif name == "img":
            alt = _ALT.search(tag)
            replacement = (alt.group("dq") or alt.group("sq") or "") if alt else ""
        else:
            replacement = tag
            for a in reversed(hit):
                replacement = replacement[: a.start()] + replacement[a.end() :]
        out.append(replacement)
        pos = m.end()
        if name == "a":
            close = html.find("</a>", pos)
            if close != -1:
                out.append(html[pos:close])
                pos = close + len("</a>")
    out.append(html[pos:])
    return "".join(out)


def has_syntax(value: str) -> bool:
    """Whether ``value`` holds Liquid or Hugo template syntax (for URLs taken verbatim)."""
    return "{{" in value or "{%" in value


def preprocess(body: str, site_url: str) -> Preprocessed:
    """Rewrite the template syntax in ``body`` (see the module docstring) for ``site_url``."""
    prefix = "fieldfeedtpl"
    while prefix in body:
        prefix += "q"
    result = Preprocessed(markdown=body, refs=(), notes=[], prefix=prefix)
    if "{{" not in body and "{%" not in body:
        return result
    refs: list[Ref] = []
    out: list[str] = []
    parts = urlsplit(site_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    base_path = parts.path.rstrip("/")
    fence = "`" * max([3, *(len(r) + 1 for r in _BACKTICKS.findall(body))])
    in_raw = False
    pos = 0

    def keep(original: str, start: int, literal: bool) -> str:
        result.literals.append((original, body.count("\n", 0, start), literal))
        return f"{prefix}{len(result.literals) - 1}z"

    def ref(kind: str, target: str, original: str, start: int) -> str:
        refs.append(Ref(kind, target, body.count("\n", 0, start), original))
        return f"{REF_SCHEME}{len(refs) - 1};"

    for m in _SYNTAX.finditer(body):
        original = m.group(0)
        start = m.start()
        out.append(body[pos:start])
        pos = m.end()
        name = (m.group("t_name") or "").lower()
        if in_raw:
            if m.group("tag") and name == "endraw":
                in_raw = False
            else:
                out.append(keep(original, start, True))
            continue
        if m.group("hugo_escaped"):
            opener = m.group("he_open")
            closer = ">" if opener == "<" else "%"
            literal = "{{" + opener + " " + m.group("he_body").strip() + " " + closer + "}}"
            out.append(keep(literal, start, True))
        elif m.group("tag"):
            args = m.group("t_args").strip()
            if name == "raw":
                in_raw = True
            elif name == "endraw":
                pass  # a stray end marker: nothing to show
            elif name == "highlight" and args:
                out.append(_fence_open(fence, args.split()[0], body, start))
            elif name == "endhighlight":
                out.append(_fence_close(fence, body, start, pos))
            elif name in ("post_url", "link") and args:
                target = _unquote(args)
                if name == "link":
                    target = target.removeprefix("/").removeprefix("_posts/")
                out.append(ref(name, target, original, start))
            else:
                out.append(keep(original, start, False))
        elif m.group("hugo"):
            shortcode = m.group("h_name").lower()
            closing = bool(m.group("h_close"))
            args = m.group("h_args").strip()
            if shortcode == "highlight" and not closing and args:
                out.append(_fence_open(fence, _unquote(args.split()[0]), body, start))
            elif shortcode == "highlight" and closing:
                out.append(_fence_close(fence, body, start, pos))
            elif shortcode in ("ref", "relref") and not closing and args:
                out.append(ref(shortcode, _unquote(args), original, start))
            elif shortcode == "figure" and not closing:
                out.append(_figure(args))
            else:
                out.append(keep(original, start, False))
        else:
            value = m.group("o_body").strip()
            if value == "site.url":
                out.append(origin)
            elif value == "site.baseurl":
                out.append(base_path)
            elif (f := _URL_FILTER.match(value)) is not None:
                path = f.group("dq") if f.group("dq") is not None else f.group("sq")
                path = base_path + "/" + path.lstrip("/")
                out.append(origin + path if f.group("filter") == "absolute_url" else path)
            else:
                out.append(keep(original, start, False))
    out.append(body[pos:])
    result.markdown = "".join(out)
    result.refs = tuple(refs)
    return result


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1].strip()
    return value.split()[0] if value.split() else value


def _fence_open(fence: str, language: str, body: str, start: int) -> str:
    """A fence opening on its own line (python-markdown's fences start at a line's start)."""
    lead = "" if start == 0 or body[start - 1] == "\n" else "\n"
    language = re.sub(r"[^\w+#.-]", "", language)
    return f"{lead}{fence}{language}"


def _fence_close(fence: str, body: str, start: int, end: int) -> str:
    lead = "" if start == 0 or body[start - 1] == "\n" else "\n"
    tail = "" if end >= len(body) or body[end] == "\n" else "\n"
    return f"{lead}{fence}{tail}"


def _figure(args: str) -> str:
    """Hugo's ``figure`` shortcode as the HTML it stands for (src, alt, title, caption, link)."""
    attrs: dict[str, str] = {}
    for a in _ARG.finditer(args):
        value = a.group("dq") if a.group("dq") is not None else a.group("sq")
        attrs[a.group("key").lower()] = value if value is not None else a.group("bare")

    def esc(value: str) -> str:
        return htmllib.escape(value, quote=True)

    img = f'<img src="{esc(quote(attrs.get("src", ""), safe=":/?#[]@!$&()*+,;=%~-._"))}"'
    img += f' alt="{esc(attrs.get("alt", ""))}"'
    if attrs.get("title"):
        img += f' title="{esc(attrs["title"])}"'
    img += ">"
    if attrs.get("link"):
        img = f'<a href="{esc(attrs["link"])}">{img}</a>'
    caption = attrs.get("caption") or attrs.get("title")
    if caption:
        img += f"<figcaption>{esc(caption)}</figcaption>"
    return f"<figure>{img}</figure>"
