"""Rendering a digest issue: content, overrides, size budget, dark mode, escaping, goldens."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from pathlib import Path

import pytest
from golden_emails import (
    GOLDEN_NOW,
    GOLDEN_SECRET,
    build_emails_golden,
    golden_issue,
    golden_settings,
    golden_subscriber,
    make_post,
)

from fieldfeed.mail.render import (
    HTML_BUDGET,
    PLACEHOLDERS,
    format_subject,
    personalize,
    render_issue,
)
from fieldfeed.mail.templating import template_env
from fieldfeed.mail.tokens import unsubscribe_link
from fieldfeed.model import Issue

GOLDEN_DIR = Path(__file__).parent / "golden" / "emails"


def render(settings=None, issue=None, posts=None, **kwargs):  # type: ignore[no-untyped-def]
    settings = settings or golden_settings()
    issue = issue or golden_issue()
    return render_issue(settings, template_env(settings), issue, posts or issue.posts, **kwargs)


def test_every_post_appears_with_its_details() -> None:
    issue = golden_issue()
    r = render(archive_url="https://fieldnotes.example.org/archive/7/")
    for post in issue.posts:
        for part in (r.html, r.text):
            assert post.url in part
            assert post.read_time in part
        assert f'href="{post.url}"' in r.html
        # Titles and summaries: escaped in HTML, raw in text.
        from html import escape

        assert escape(post.title, quote=False) in r.html
        assert post.title in r.text
        assert escape(post.summary, quote=False) in r.html
        assert " ".join(post.summary.split()) in " ".join(r.text.split())
        for tag in post.tags:
            assert tag.name in r.html and tag.name in r.text
    assert "Read the article" in r.html
    assert "9 March 2025" in r.html  # dates in the site's timezone, human format
    assert "https://fieldnotes.example.org/archive/7/" in r.html
    assert r.post_ids == tuple(p.id for p in issue.posts)
    assert r.collapsed == 0
    assert r.subject == "Field Notes #7: SQLite in WAL mode: a year of running it in production"
    for placeholder in PLACEHOLDERS[:2] + PLACEHOLDERS[3:]:
        if placeholder != "XXFFNAMEXX":
            assert placeholder in r.html
    assert "4 new posts from 6 March 2025 to 9 March 2025" in r.html
    assert "4 new posts since 3 March 2025" in render(since=GOLDEN_NOW - timedelta(days=7)).html


def test_hidden_preheader_and_visible_unsubscribe_near_the_top() -> None:
    r = render()
    body = r.html[r.html.index("<body") :]
    preheader = re.search(r'<div class="ff-preheader" style="([^"]*)">([^<]*)', body)
    assert preheader is not None
    assert "display:none" in preheader.group(1)
    assert preheader.group(2).startswith("SQLite in WAL mode")
    first_unsub = body.index('href="XXFFUNSUBXX"')
    assert first_unsub < body.index("ff-card")  # before the first post
    assert body.count('href="XXFFUNSUBXX"') == 2


def test_site_templates_override_package_ones_by_name(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "digest.txt").write_text(
        "CUSTOM {{ site.title }}: {% for p in cards %}{{ p.title }}; {% endfor %}"
        "{{ unsubscribe_url }}\n"
    )
    settings = golden_settings(tmp_path)
    r = render(settings)
    assert r.text.startswith("CUSTOM Field Notes: SQLite in WAL mode")
    assert "ff-card" in r.html  # digest.html still comes from the package


def test_autoescape_in_html_not_in_text() -> None:
    post = make_post(
        "b",
        'Bold <b>claims</b> & "quotes"',
        ("C++ & <Rust>",),
        "Summary with <script>alert(1)</script>.",
        100,
        GOLDEN_NOW,
    )
    issue = Issue(number=1, cutoff=GOLDEN_NOW, created=GOLDEN_NOW, posts=(post,))
    r = render(issue=issue)
    assert "<b>claims</b>" not in r.html
    assert "Bold &lt;b&gt;claims&lt;/b&gt; &amp;" in r.html
    assert "<script>" not in r.html
    assert "C++ &amp; &lt;Rust&gt;" in r.html
    assert 'Bold <b>claims</b> & "quotes"' in r.text


def test_dark_mode_phone_rules_and_outlook_blocks_survive_inlining() -> None:
    html = render().html
    head = html[: html.index("</head>")]
    assert '<meta name="color-scheme" content="light dark">' in head
    assert '<meta name="supported-color-schemes" content="light dark">' in head
    assert "@media (prefers-color-scheme: dark)" in head
    assert "background-color: #121417 !important" in head
    assert "@media only screen and (max-width: 620px)" in head
    assert "<!--[if mso]>" in html and "<![endif]-->" in html
    assert html.count("<!--[if mso]>") == 3
    # Inlined: explicit colours on the elements themselves.
    assert re.search(r'<p class="ff-summary" style="[^"]*color:#30353c', html)
    assert 'width="600"' in html  # the Outlook wrapper
    assert "display:flex" not in html and "display:grid" not in html


def test_size_budget_collapses_later_posts() -> None:
    long_summary = ("A long summary sentence about databases and queues. " * 6).strip()
    posts = tuple(
        make_post(
            f"post-{i}",
            f"Post number {i}: a fairly long title about systems",
            ("Databases", "Distributed Systems", "Operations"),
            long_summary,
            2000,
            GOLDEN_NOW - timedelta(hours=i + 1),
        )
        for i in range(80)
    )
    issue = Issue(number=9, cutoff=GOLDEN_NOW, created=GOLDEN_NOW, posts=posts)
    r = render(issue=issue)
    size = len(r.html.encode())
    assert 0 < r.collapsed < 80
    assert size <= HTML_BUDGET
    sub = dataclasses.replace(golden_subscriber(), name="N" * 200)
    html, text = personalize(r, sub, unsubscribe_link("https://e.org/u/", GOLDEN_SECRET, 1))
    assert len(html.encode()) < 102_000
    assert len(text.encode()) < 102_000
    # Collapsed posts are still there as title links, plus a link to the site.
    for post in posts:
        assert f'href="{post.url}"' in r.html
        assert post.url in r.text
    assert r.html.count("Read the article") == 80 - r.collapsed
    assert "More in this issue" in r.html
    assert f'href="{golden_settings().site.url}"' in r.html
    # One fewer collapsed post would not have fitted.
    assert r.collapsed >= 1


def test_subject_template_fields_and_errors() -> None:
    settings = golden_settings()
    issue = golden_issue()
    custom = dataclasses.replace(
        settings, digest=dataclasses.replace(settings.digest, subject="{count} new on {site}")
    )
    assert format_subject(custom, issue, issue.posts) == "4 new on Field Notes"
    bad = dataclasses.replace(
        settings, digest=dataclasses.replace(settings.digest, subject="{titel}")
    )
    with pytest.raises(ValueError, match="unknown field"):
        format_subject(bad, issue, issue.posts)


@pytest.mark.parametrize(
    "name",
    [
        f"{stem}.{ext}"
        for stem in ("issue-7", "post-8", "full-9")
        for ext in ("html", "txt", "rfc822")
    ],
)
def test_golden_emails(name: str) -> None:
    """Regenerate with ``python tests/golden_emails.py`` and review ``git diff``."""
    built = build_emails_golden()
    assert built[name] == (GOLDEN_DIR / name).read_bytes(), (
        f"{name} differs from the golden file: run `python tests/golden_emails.py` and "
        "review the diff"
    )


def test_confirmation_templates_render_and_escape() -> None:
    settings = golden_settings()
    env = template_env(settings)
    context = {
        "site": settings.site,
        "email": "a<b>@example.com",
        "confirm_url": "https://fieldnotes.example.org/confirm/abc.123.def?x=1&y=2",
        "expires_hours": 48,
    }
    html = env.get_template("confirm.html").render(context)
    text = env.get_template("confirm.txt").render(context)
    assert 'href="https://fieldnotes.example.org/confirm/abc.123.def?x=1&amp;y=2"' in html
    assert "a&lt;b&gt;@example.com" in html
    assert "https://fieldnotes.example.org/confirm/abc.123.def?x=1&y=2" in text
    assert "48 hours" in text and "48 hours" in html
