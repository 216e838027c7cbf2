"""Full post bodies made fit for mail (``[digest] content = "full"``) and the clip budget."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from golden_emails import GOLDEN_NOW, RICH_HTML, golden_settings, make_post

from fieldfeed.config import parse_settings
from fieldfeed.errors import ConfigError
from fieldfeed.mail.posthtml import BODY_WIDTH, body_text, mail_safe_html
from fieldfeed.mail.render import HTML_BUDGET, render_issue
from fieldfeed.mail.templating import template_env
from fieldfeed.model import Issue

BASE = "https://blog.example.org/posts/wal/"


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '<iframe src="https://evil.example/"></iframe>',
        '<form action="https://evil.example/"><input name="pw"></form>',
        '<img src="x.png" onerror="alert(1)">',
        '<a href="javascript:alert(1)">click</a>',
        '<p style="position:fixed;top:0">overlay</p>',
        '<object data="x.swf"></object><embed src="x.swf">',
        "<style>body{display:none}</style>",
    ],
)
def test_hostile_html_does_not_reach_mail(hostile: str) -> None:
    out = mail_safe_html(f"<p>before</p>{hostile}<p>after</p>", BASE).lower()
    for bad in (
        "<script",
        "<iframe",
        "<form",
        "<input",
        "onerror",
        "javascript:",
        "<object",
        "<embed",
        "<style",
        "position:fixed",
        "evil.example",
    ):
        assert bad not in out
    assert "before" in out and "after" in out


def test_urls_become_absolute_and_images_fit_the_column() -> None:
    out = mail_safe_html(
        '<p><a href="../other/">o</a> <img src="a.png" alt="a">'
        '<img src="/b.png" width="1200" height="800"><img src="c.png" width="120"></p>',
        BASE,
    )
    assert 'href="https://blog.example.org/posts/other/"' in out
    assert f'src="https://blog.example.org/posts/wal/a.png" alt="a" width="{BODY_WIDTH}"' in out
    # A wide image is scaled: width attribute for Outlook, no height that would stretch it.
    assert f'src="https://blog.example.org/b.png" width="{BODY_WIDTH}" style=' in out
    assert 'height="800"' not in out
    # A small one keeps its size.
    assert 'width="120" style="max-width:100%; height:auto;"' in out


def test_tables_scroll_in_their_own_box() -> None:
    out = mail_safe_html("<table><tr><td>a</td></tr></table><p>x</p>", BASE)
    assert out.startswith('<div class="ff-scroll"><table>')
    assert out.endswith("</table></div><p>x</p>")


def test_text_keeps_code_verbatim_and_tables_by_row() -> None:
    text = body_text(RICH_HTML)
    assert "    def checkpoint(db):\n        # TRUNCATE resets" in text
    assert "setting | default | what we use" in text
    assert "tracking" not in text
    prose = [line for line in text.splitlines() if " | " not in line and line[:4] != "    "]
    assert prose and all(len(line) <= 72 for line in prose)


def full_settings():  # type: ignore[no-untyped-def]
    s = golden_settings()
    return dataclasses.replace(s, digest=dataclasses.replace(s.digest, content="full"))


def test_a_long_full_issue_stays_under_the_clip_budget() -> None:
    """Twenty 3,000-word posts: the first ones in full, the rest as summaries with "Read the
    rest", and the inlined HTML under the budget."""
    paragraph = "<p>" + "A sentence about write-ahead logs and checkpoints. " * 40 + "</p>\n"
    body = paragraph * 8 + "<pre><code>" + "x = 1\n" * 40 + "</code></pre>"
    posts = tuple(
        dataclasses.replace(
            make_post(
                f"p{i}",
                f"Post {i}",
                ("Databases",),
                f"Summary {i}.",
                3000,
                GOLDEN_NOW - timedelta(hours=i + 1),
            ),
            html=body,
        )
        for i in range(20)
    )
    issue = Issue(number=3, cutoff=GOLDEN_NOW, created=GOLDEN_NOW, posts=posts)
    settings = full_settings()
    r = render_issue(settings, template_env(settings), issue, posts)
    size = len(r.html.encode())
    assert size <= HTML_BUDGET
    shown = r.html.count('<div class="ff-body"')
    assert 1 <= shown < 20
    assert r.html.count("Read the rest") == 20 - shown
    assert r.collapsed == 0  # every other post still has its summary card
    # One more full body would not have fitted: the budget is used, not wasted.
    assert size > HTML_BUDGET - len(body.encode()) * 1.2
    assert r.text.count("Read it on the web") == shown


def test_one_post_too_long_for_the_budget_becomes_its_summary() -> None:
    post = dataclasses.replace(
        make_post("huge", "Huge", (), "The summary.", 30000, GOLDEN_NOW - timedelta(hours=1)),
        html="<p>" + "word " * 40000 + "</p>",
    )
    issue = Issue(number=1, cutoff=GOLDEN_NOW, created=GOLDEN_NOW, posts=(post,))
    settings = full_settings()
    r = render_issue(settings, template_env(settings), issue, (post,))
    assert len(r.html.encode()) <= HTML_BUDGET
    assert "The summary." in r.html and "Read the rest" in r.html


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('mode = "weekly"', 'mode must be "digest" or "per-post"'),
        ('content = "html"', 'content must be "summary" or "full"'),
    ],
)
def test_mode_and_content_are_checked(line: str, message: str) -> None:
    toml = f'[site]\ntitle = "T"\nurl = "https://e.org/"\n\n[digest]\n{line}\n'
    with pytest.raises(ConfigError) as info:
        parse_settings(toml, golden_settings().root)
    assert f":6: [digest] {message}" in str(info.value)
