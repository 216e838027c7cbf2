"""render_markdown: the plain text taken from the Markdown tree equals html_to_text of the HTML."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldfeed.site.markdown import render_markdown
from fieldfeed.site.text import html_to_text

BASE = "https://example.org/posts/x/"

EXAMPLES = [
    "Plain *emphasis* and **strong** and `code <b> & x`.",
    "AT&T &copy; &amp; &#169; &#xa9; &copyx \\&amp; \\* 5 < 6 > 4",
    "Inline <b>raw</b> and <span class='footnote-ref'>kept?</span> html.",
    "<div>\nraw *block*\n</div>\n\nafter",
    "<!-- more -->\n\nafter the marker",
    "Before\n<!-- more -->\nafter, same paragraph",
    "```python\nprint('<p>')\n```\n\n    indented code\n\ntext",
    "Note[^1] and another[^n].\n\n[^1]: first *note*\n[^n]: second",
    "[TOC]\n\n# One\n\n## Two &amp; three\n\ntext",
    "| a | b |\n|---|---|\n| 1 & 2 | <i>x</i> |",
    "<mail@example.org> and <https://example.org/?a=1&b=2>",
    "line one  \nline two<br>three<br/>four",
    "<script>var x = '<p>';</script>\n\nafter script",
    "<style>p { color: red }</style> inline style",
    "text <a href='x' unclosed",
    "text with &unknown; and & alone and &#99999999;",
    "<pre>raw pre\n\nwith blank</pre>\n\nafter",
    '<div class="footnote">hidden</div>\n\nshown',
    "- a\n- b\n\n    nested para\n\n1. one\n2. two",
    "> quote *with* `code`\n>\n> second",
    "![alt text](img.png \"title\") [link](../x/ 'title')",
    "---\n\n***\n\nrule above",
    "<details><summary>S</summary>\n\n*md inside*\n\n</details>",
    "<p>raw p</p>\n\n<hr>\n\n<img src=x>",
    'x<sup id="fnref:9">9</sup>y and <sup>2</sup>',
    "\u00a0non-breaking\u2003spaces\u3000here",
]


@pytest.mark.parametrize("body", EXAMPLES)
def test_tree_text_equals_html_to_text(body: str) -> None:
    rendered = render_markdown(body, BASE)
    assert rendered.text == html_to_text(rendered.html)


PIECES = st.sampled_from(
    [
        *EXAMPLES,
        "*",
        "`",
        "<",
        ">",
        "&",
        "&amp;",
        "[^1]",
        "[^1]: n",
        "<b>",
        "</b>",
        "<div>",
        "</div>",
        "<!--",
        "-->",
        "```",
        "    ",
        "# ",
        "- ",
        "\\",
        "<pre>",
        "</pre>",
        "<script>",
        "</script>",
        "word",
        "more words here",
    ]
)
SEPARATORS = st.sampled_from(["", " ", "\n", "\n\n"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(PIECES, SEPARATORS), max_size=12), st.text(max_size=40))
def test_tree_text_equals_html_to_text_on_mixed_markdown(
    parts: list[tuple[str, str]], noise: str
) -> None:
    body = "".join(p + s for p, s in parts) + noise
    rendered = render_markdown(body, BASE)
    assert rendered.text == html_to_text(rendered.html)
