"""A fixed digest issue and its golden email files: HTML, text and the raw message (.rfc822).

``python tests/golden_emails.py`` regenerates tests/golden/emails/ (via regen_golden's
machinery); ``build_emails_golden`` is the target function regen_golden.TARGETS can import.
The sample data here is also what test_digest_render / test_message build on.
"""

from __future__ import annotations

import dataclasses
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS.parent))

from fieldfeed.config import Settings, parse_settings  # noqa: E402
from fieldfeed.model import Issue, Post, Subscriber, Tag  # noqa: E402

#: Fixed clock and secret: golden output must not change between runs.
GOLDEN_NOW = datetime(2025, 3, 10, 7, 0, tzinfo=UTC)
GOLDEN_SECRET = b"golden-secret-golden-secret-golden-secret!"

SITE_TOML = """
[site]
title = "Field Notes"
url = "https://fieldnotes.example.org/"
description = "Notes on backend systems, databases and the craft of running software"
language = "en"
author = "Mara Lindqvist"
email = "mara@fieldnotes.example.org"
timezone = "Europe/Berlin"

[digest]
from = "Field Notes <news@fieldnotes.example.org>"
unsubscribe_url = "https://fieldnotes.example.org/u/"
"""

_SAMPLES = (
    (
        "sqlite-wal",
        "SQLite in WAL mode: a year of running it in production",
        ("SQLite", "Databases", "Operations"),
        "Almost every problem we had in the first month came from not understanding the "
        "write-ahead log: checkpoints that never finished, a WAL file that grew to 40 GB, and "
        "readers that held snapshots for hours. What we changed, and what we would do again.",
        1840,
    ),
    (
        "retries-that-do-not-hurt",
        "Retries that don't hurt: budgets, jitter and the thundering herd",
        ("Distributed Systems", "Reliability"),
        "A retry is a promise to do the same work again. Without a budget it turns a short "
        "outage into a long one. Token-bucket retry budgets, full jitter, and why the client "
        "library is the wrong place to decide.",
        1210,
    ),
    (
        "postgres-vacuum-notes",
        "Notes on VACUUM & autovacuum tuning <for people in a hurry>",
        ("PostgreSQL", "Databases"),
        "Dead tuples, the visibility map and freeze age, explained with the three queries I "
        "run first when a table bloats. The defaults are fine until they are not; here is how "
        "to tell.",
        960,
    ),
    (
        "small-tools",
        "Small tools, long lives",
        (),
        "Why the scripts I wrote in an afternoon outlived the platforms that replaced them.",
        180,
    ),
)


def golden_settings(root: Path | None = None) -> Settings:
    """The sample site's settings (no file read)."""
    return parse_settings(SITE_TOML, root or TESTS / "sites" / "email-golden")


def make_post(
    slug: str,
    title: str,
    tags: tuple[str, ...],
    summary: str,
    words: int,
    date: datetime,
    site_url: str = "https://fieldnotes.example.org/",
) -> Post:
    """A rendered post for email tests (the content pipeline is not needed here)."""
    url = f"{site_url}posts/{slug}/"
    return Post(
        source=f"content/posts/{slug}.md",
        slug=slug,
        title=title,
        date=date,
        updated=date,
        tags=tuple(Tag(name=t, slug=t.lower().replace(" ", "-")) for t in tags),
        summary=summary,
        html=f"<p>{summary}</p>",
        url=url,
        id=url,
        author=None,
        image=None,
        draft=False,
        word_count=words,
        read_minutes=max(1, -(-words // 230)),
    )


def golden_posts() -> tuple[Post, ...]:
    """Four posts, newest first, one per day before GOLDEN_NOW."""
    return tuple(
        make_post(slug, title, tags, summary, words, GOLDEN_NOW - timedelta(days=i + 1, hours=3))
        for i, (slug, title, tags, summary, words) in enumerate(_SAMPLES)
    )


def golden_issue() -> Issue:
    return Issue(number=7, cutoff=GOLDEN_NOW, created=GOLDEN_NOW, posts=golden_posts())


def golden_subscriber() -> Subscriber:
    return Subscriber(
        id=42,
        email="ada@example.com",
        name="Ada Lovelace",
        tags=(),
        status="active",
        created=GOLDEN_NOW - timedelta(days=90),
        confirmed=GOLDEN_NOW - timedelta(days=90),
    )


#: A post body as Markdown renders it, with the raw HTML a writer may paste: full-content mail
#: must keep the text, images, table and code and drop the script, frame and form.
RICH_HTML = """\
<p>WAL mode changes who waits for whom. Readers no longer block the writer, and the writer no
longer blocks readers; what is left to tune is the checkpoint.</p>
<p><img alt="Checkpoint timeline" src="/img/checkpoints.png"></p>
<table>
<thead><tr><th>setting</th><th>default</th><th>what we use</th></tr></thead>
<tbody><tr><td>wal_autocheckpoint</td><td>1000 pages</td><td>10000 pages, plus a nightly
<code>PRAGMA wal_checkpoint(TRUNCATE)</code></td></tr></tbody>
</table>
<pre><code class="language-python">def checkpoint(db):
    # TRUNCATE resets the WAL file to zero bytes once every reader has moved on
    return db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
</code></pre>
<script>document.write("tracking")</script>
<iframe src="https://video.example.com/embed/1"></iframe>
<p>The rest of the post, with a <a href="../retries-that-do-not-hurt/">link to another</a>.</p>
"""


def _with(settings: Settings, **digest: str) -> Settings:
    return dataclasses.replace(settings, digest=dataclasses.replace(settings.digest, **digest))


def _messages(stem: str, settings: Settings, issue: Issue, **render: object) -> dict[str, bytes]:
    from fieldfeed.mail.message import MessageTemplate, default_list_id
    from fieldfeed.mail.render import personalize, render_issue
    from fieldfeed.mail.templating import template_env
    from fieldfeed.mail.tokens import preferences_link, unsubscribe_link

    rendered = render_issue(
        settings,
        template_env(settings),
        issue,
        issue.posts,
        archive_url=f"https://fieldnotes.example.org/archive/{issue.number}/",
        **render,  # type: ignore[arg-type]
    )
    subscriber = golden_subscriber()
    url = unsubscribe_link(settings.digest.unsubscribe_url, GOLDEN_SECRET, subscriber.id)
    prefs = preferences_link(
        settings.digest.unsubscribe_url,
        GOLDEN_SECRET,
        subscriber.id,
        int(issue.created.timestamp()),
    )
    html, text = personalize(rendered, subscriber, url, "", prefs)
    template = MessageTemplate(settings, rendered, issue, list_id=default_list_id(settings))
    return {
        f"{stem}.html": html.encode("utf-8"),
        f"{stem}.txt": text.encode("utf-8"),
        f"{stem}.rfc822": template.build(subscriber, url, prefs),
    }


def build_emails_golden() -> dict[str, bytes]:
    """{name: bytes} for tests/golden/emails: each issue's HTML and text for one subscriber
    (what ``digest preview`` shows) and the raw message as sent. ``issue-7``: a summary digest
    (the default); ``post-8``: a per-post mail with a lead image; ``full-9``: a digest with
    ``content = "full"``."""
    settings = golden_settings()
    files = _messages("issue-7", settings, golden_issue(), since=GOLDEN_NOW - timedelta(days=7))
    lead = dataclasses.replace(
        golden_posts()[0], image="https://fieldnotes.example.org/img/wal-lead.png"
    )
    post = Issue(number=8, cutoff=GOLDEN_NOW, created=GOLDEN_NOW, posts=(lead,))
    files |= _messages("post-8", _with(settings, mode="per-post"), post)
    rich = dataclasses.replace(lead, html=RICH_HTML)
    full = Issue(
        number=9, cutoff=GOLDEN_NOW, created=GOLDEN_NOW, posts=(rich, *golden_posts()[1:3])
    )
    files |= _messages(
        "full-9", _with(settings, content="full"), full, since=GOLDEN_NOW - timedelta(days=7)
    )
    return files


if __name__ == "__main__":
    import regen_golden

    regen_golden.TARGETS.setdefault("emails", build_emails_golden)
    raise SystemExit(regen_golden.main(["emails", *sys.argv[1:]]))
