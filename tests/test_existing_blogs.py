"""Existing blogs as they come: which files are posts and which posts are published (issue 9).

The sites under tests/sites/ (hugo, pelican, jekyll) were written for these tests in the shape
those generators use; each is copied, built through the CLI and read back with feedparser.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from typer.testing import CliRunner

from fieldfeed.cli import app
from fieldfeed.cli.common import run_app
from fieldfeed.config import ContentSettings
from fieldfeed.site.content import ParseOptions, assemble, parse_post
from fieldfeed.site.files import find_site_files

SITES = Path(__file__).parent / "sites"
NOW = "2025-03-01T12:00:00+00:00"


def invoke(*args: str | Path, now: str = NOW) -> tuple[int, str, str]:
    """Run the CLI as main() does, capturing its output."""
    with CliRunner().isolation(env={"FIELDFEED_NOW": now}) as (out, err, _):
        code = run_app(app, [str(a) for a in args])
        return code, out.getvalue().decode(), err.getvalue().decode()


def copy_site(name: str, tmp_path: Path) -> Path:
    root = tmp_path / name
    shutil.copytree(SITES / name, root)
    return root


def build(root: Path, now: str = NOW) -> str:
    code, out, err = invoke("build", "--site", root, now=now)
    assert code == 0, err
    return out


def feed(root: Path, path: str = "atom.xml") -> Any:
    parsed = feedparser.parse((root / "public" / path).read_bytes())
    assert not parsed.bozo, parsed.bozo_exception
    return parsed


def tag_names(entry: Any) -> set[str]:
    """Tag names as written (Atom: the label; the term is the tag's slug)."""
    return {t.get("label") or t.term for t in entry.tags}


def titles(parsed: Any) -> list[str]:
    return [e.title for e in parsed.entries]


def check_subprocess(root: Path, now: str = NOW) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fieldfeed", "check", "--site", str(root)],
        capture_output=True,
        text=True,
        env={**os.environ, "FIELDFEED_NOW": now},
        timeout=60,
        check=False,
    )


# --- Hugo -----------------------------------------------------------------------------------


def test_hugo_site_publishes_what_hugo_would(tmp_path: Path) -> None:
    root = copy_site("hugo", tmp_path)
    out = build(root)
    # _index.md (two list pages) are not posts; 3 drafts: draft, expiryDate, unpublishdate;
    # 2 scheduled: a future publishDate and a future pubdate (with no date at all).
    assert "3 posts (3 drafts, 2 scheduled for later)" in out
    site = feed(root)
    assert titles(site) == [
        "SQLite's WAL mode, measured",
        "The QUIC handshake, one round trip at a time",
        "Raft log compaction without tears",
    ]
    wal, quic, raft = site.entries
    # The publish date is the post's date: it appeared on 14 February, not in December.
    assert wal.published_parsed[:5] == (2025, 2, 14, 7, 0)
    assert wal.updated_parsed[:4] == (2025, 2, 19, 23)  # lastmod: midnight in Berlin
    assert raft.updated_parsed[:5] == (2024, 11, 21, 2, 0)  # lastmod with its own offset
    assert quic.published_parsed[:5] == (2025, 1, 12, 7, 15)  # Title/Date: keys any case
    # categories join the tags and get their feeds
    assert tag_names(raft) == {"raft", "Distributed Systems"}
    assert tag_names(wal) == {"sqlite", "performance", "Databases"}
    assert titles(feed(root, "tags/databases/rss.xml")) == ["SQLite's WAL mode, measured"]
    assert not (root / "public" / "tags" / "announcements").exists()  # both expired


def test_a_future_publish_date_publishes_the_post_when_it_comes(tmp_path: Path) -> None:
    root = copy_site("hugo", tmp_path)
    out = build(root, now="2025-06-01T07:00:00+00:00")
    assert "4 posts (3 drafts, 1 scheduled for later)" in out
    first = feed(root).entries[0]
    assert first.title == "PgBouncer pool modes, compared"
    assert first.published_parsed[:5] == (2025, 6, 1, 7, 0)  # publishDate, not date
    out = build(root, now="2026-01-15T08:00:00+00:00")
    assert feed(root).entries[0].title == "Kafka retention is not a backup"


def test_expiry_date_takes_a_published_post_out(tmp_path: Path) -> None:
    root = copy_site("hugo", tmp_path)
    build(root, now="2025-02-10T12:00:00+00:00")
    assert "See you at the storage conference" in titles(feed(root))
    assert titles(feed(root, "tags/announcements/atom.xml")) == [
        "See you at the storage conference"
    ]
    build(root, now="2025-03-01T00:00:00+00:00")  # unpublishdate 2025-02-28 23:59:59 +01:00
    assert "See you at the storage conference" not in titles(feed(root))
    assert not (root / "public" / "tags" / "announcements").exists()


def test_exclude_globs_and_categories_as_tags_off(tmp_path: Path) -> None:
    root = copy_site("hugo", tmp_path)
    config = root / "fieldfeed.toml"
    config.write_text(
        config.read_text()
        + '\n[content]\nexclude = ["posts/quic-*.md"]\ncategories_as_tags = false\n'
    )
    code, _, err = invoke("build", "--site", root)
    # _index.md is only excluded by default: naming other globs puts the list pages back.
    assert code == 1
    assert "content/_index.md:1: date: required" in err
    config.write_text(
        config.read_text().replace('["posts/quic-*.md"]', '["_index.*", "posts/quic-*.md"]')
    )
    build(root)
    site = feed(root)
    assert "The QUIC handshake, one round trip at a time" not in titles(site)
    assert tag_names(site.entries[-1]) == {"raft"}
    assert not (root / "public" / "tags" / "databases").exists()


def test_exclude_must_be_a_list_of_globs(tmp_path: Path) -> None:
    root = copy_site("hugo", tmp_path)
    (root / "fieldfeed.toml").write_text(
        (root / "fieldfeed.toml").read_text() + '\n[content]\nexclude = "_index.md"\n'
    )
    code, _, err = invoke("check", "--site", root)
    assert code == 1
    assert "fieldfeed.toml:15: [content] exclude must be a list of glob strings" in err


def test_held_back_posts_are_in_no_digest(tmp_path: Path) -> None:
    root = copy_site("hugo", tmp_path)
    with (root / "fieldfeed.toml").open("a", encoding="utf-8") as f:
        f.write(
            '\n[digest]\nfrom = "Mira <news@notes.example.org>"\n'
            'unsubscribe_url = "https://notes.example.org/u/"\nfirst_window_days = 3650\n'
        )
    code, _, err = invoke("digest", "preview", "--site", root, "--out", tmp_path / "preview")
    assert code == 0, err
    text = (tmp_path / "preview" / "issue-1.txt").read_text(encoding="utf-8")
    assert "3 new posts" in text
    for shown in ("SQLite's WAL mode", "The QUIC handshake", "Raft log compaction"):
        assert shown in text
    for held in ("PgBouncer", "Workshop seats", "storage conference", "tracing", "Kafka"):
        assert held not in text


# --- Pelican --------------------------------------------------------------------------------


def test_pelican_metadata_header_reads_like_front_matter(tmp_path: Path) -> None:
    root = copy_site("pelican", tmp_path)
    out = build(root)
    assert "2 posts (2 drafts)" in out  # Status: draft and Status: hidden
    site = feed(root)
    assert titles(site) == ["Structural typing with Protocols", "Notes on Python packaging in 2019"]
    typing_, packaging = site.entries
    assert packaging.link == "https://lee.example.net/posts/python-packaging-notes/"
    assert packaging.published_parsed[:5] == (2019, 4, 2, 15, 20)  # 10:20 in Chicago (CDT)
    assert packaging.updated_parsed[:5] == (2019, 4, 6, 0, 30)
    assert packaging.author == "Ana Souza, Lee Park"
    assert packaging.summary == "Wheels, sdists and why setup.py is on its way out."
    assert tag_names(packaging) == {"packaging", "pip", "Python"}
    assert "<h2" in packaging.content[0].value and "Title:" not in packaging.content[0].value
    assert tag_names(typing_) == {"typing", "mypy", "Web Development"}
    assert titles(feed(root, "tags/web-development/rss.xml")) == [
        "Structural typing with Protocols"
    ]


def test_pelican_header_errors_name_their_line(tmp_path: Path) -> None:
    root = copy_site("pelican", tmp_path)
    post = root / "content" / "python-packaging.md"
    post.write_text(post.read_text().replace("Date: 2019-04-02 10:20", "Date: April 2nd"))
    hidden = root / "content" / "about-this-blog.md"
    hidden.write_text(hidden.read_text().replace("Status: hidden", "Status: secret"))
    code, _, err = invoke("check", "--site", root)
    assert code == 1
    assert err.splitlines() == [
        "error: content/about-this-blog.md:3: Status: expected draft, hidden, skip or published, "
        "got 'secret'",
        "content/python-packaging.md:2: Date: expected ISO 8601, got 'April 2nd'",
        "2 problems found; nothing was published",
    ]


# --- Jekyll ---------------------------------------------------------------------------------


def test_jekyll_published_false_drafts_folder_and_categories(tmp_path: Path) -> None:
    root = copy_site("jekyll", tmp_path)
    out = build(root)
    # published: false and the dateless _drafts/ post are drafts; pages, layouts, the
    # config and the Gemfile are excluded: neither posts nor published files.
    assert "2 posts (2 drafts)" in out
    site = feed(root)
    assert titles(site) == ["Spring meetup recap", "Harbour 2.0 Released"]
    meetup, release = site.entries
    assert release.published_parsed[:5] == (2024, 3, 2, 20, 0)  # 12:00 -0800
    assert meetup.published_parsed[:5] == (2024, 4, 11, 1, 30)  # 18:30 in Los Angeles
    assert tag_names(meetup) == {"community", "events"}  # "community events"
    assert titles(feed(root, "tags/release/atom.xml")) == ["Harbour 2.0 Released"]
    assert not (root / "public" / "tags" / "security").exists()
    published = sorted(
        p.relative_to(root / "public").as_posix()
        for p in (root / "public").rglob("*")
        if p.is_file() and not p.name.endswith((".xml", ".json", ".xsl"))
    )
    assert published == ["assets/logo.png"]


def test_a_dated_draft_in_the_drafts_folder_is_still_a_draft(tmp_path: Path) -> None:
    root = copy_site("jekyll", tmp_path)
    draft = root / "site" / "_drafts" / "plugin-api-deep-dive.md"
    draft.write_text(draft.read_text().replace("layout: post", "layout: post\ndate: 2024-01-01"))
    assert "2 posts (2 drafts)" in build(root)
    assert "The plugin API, in depth" not in titles(feed(root))


# --- check warnings and dates ---------------------------------------------------------------


def test_check_warns_about_unknown_keys_once_per_key(tmp_path: Path) -> None:
    root = copy_site("hugo", tmp_path)
    posts = root / "content" / "posts"
    raft = posts / "raft-log-compaction.md"
    raft.write_text(raft.read_text().replace('title = "Raft', 'titel = "Draft"\ntitle = "Raft'))
    for n in range(6):  # a theme's key in many posts: three lines, then one summary
        (posts / f"2025-01-0{n + 1}-short-{n}.md").write_text(
            f"---\ntitle: Short {n}\nhero_image: /img/{n}.jpg\nlayout: post\n---\nText.\n"
        )
    proc = check_subprocess(root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "content/posts/2025-01-01-short-0.md:3: warning: unknown key 'hero_image'",
        "content/posts/2025-01-02-short-1.md:3: warning: unknown key 'hero_image'",
        "content/posts/2025-01-03-short-2.md:3: warning: unknown key 'hero_image'",
        "content/posts/2025-01-04-short-3.md:3: warning: unknown key 'hero_image'; "
        "and in 2 more files after this one (not listed)",
        "content/posts/raft-log-compaction.md:2: warning: unknown key 'titel' "
        "(did you mean 'title'?)",
    ]
    assert "9 published" in proc.stdout


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2016-01-24 12:00:00 -0800", datetime(2016, 1, 24, 20, tzinfo=UTC)),
        ("2016-01-24 12:00:00 +0100", datetime(2016, 1, 24, 11, tzinfo=UTC)),
        ("2016-01-24T12:00:00Z", datetime(2016, 1, 24, 12, tzinfo=UTC)),
        ("2016-01-24 12:00", datetime(2016, 1, 24, 11, tzinfo=UTC)),  # Berlin, winter
        ("2016-01-24T12:00:00-08:00", datetime(2016, 1, 24, 20, tzinfo=UTC)),
    ],
)
@pytest.mark.parametrize("key", ["date", "publishDate", "lastmod"])
def test_dates_jekyll_and_hugo_users_write(key: str, written: str, expected: datetime) -> None:
    options = ParseOptions("https://example.org/", "posts/{slug}/", "Europe/Berlin", 300, 230)
    base = "date: 2000-01-01\n" if key != "date" else ""
    for text in (f"---\ntitle: T\n{base}{key}: {written}\n---\nx\n",):
        parsed = parse_post("content/t.md", text.encode(), options)
        assert parsed.problems == ()
        assert parsed.post is not None
        got = parsed.post.updated if key == "lastmod" else parsed.post.date
        assert got == expected


def test_an_unparseable_hugo_date_is_one_line_naming_the_file(tmp_path: Path) -> None:
    root = copy_site("hugo", tmp_path)
    post = root / "content" / "posts" / "sqlite-wal.md"
    post.write_text(post.read_text().replace("2025-02-14T08:00:00+01:00", "14/02/2025"))
    code, _, err = invoke("check", "--site", root)
    assert code == 1
    assert err.splitlines() == [
        "error: content/posts/sqlite-wal.md:4: publishDate: expected ISO 8601, got '14/02/2025'",
        "1 problem found; nothing was published",
    ]


# --- one point each, on single posts ----------------------------------------------------------

OPTIONS = ParseOptions("https://example.org/", "posts/{slug}/", "Europe/Berlin", 300, 230)
MARCH = datetime(2025, 3, 1, 12, tzinfo=UTC)


def published_titles(files: dict[str, str], now: datetime = MARCH) -> list[str]:
    parsed = [parse_post(source, text.encode(), OPTIONS) for source, text in files.items()]
    content, errors = assemble(parsed, now)
    assert errors == ()
    return [p.title for p in content.posts]


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("content/_posts/2025-01-02-a.md", "---\ntitle: Hidden\npublished: false\n---\nx\n"),
        ("content/p.md", "Title: Hidden\nDate: 2025-01-02 10:00\nStatus: draft\n\nx\n"),
        ("content/p.md", "Title: Hidden\nDate: 2025-01-02 10:00\nStatus: Hidden\n\nx\n"),
        ("content/_drafts/idea.md", "---\ntitle: Hidden\n---\nx\n"),
        (
            "content/p.md",
            "+++\ntitle = 'Hidden'\ndate = 2025-01-02\nexpiryDate = 2025-02-01\n+++\n",
        ),
        ("content/p.md", "---\ntitle: Hidden\ndate: 2025-01-02\npublishDate: 2025-04-01\n---\n"),
        ("content/p.md", "---\ntitle: Hidden\ndate: 2025-01-02\nUnpublishDate: 2025-02-01\n---\n"),
    ],
)
def test_each_way_of_holding_a_post_back(source: str, text: str) -> None:
    shown = "---\ntitle: Shown\ndate: 2025-01-01\n---\nx\n"
    assert published_titles({"content/shown.md": shown, source: text}) == ["Shown"]


def test_published_true_and_status_published_show_the_post() -> None:
    files = {
        "content/a.md": "---\ntitle: A\ndate: 2025-01-01\npublished: true\n---\nx\n",
        "content/b.md": "Title: B\nDate: 2025-01-02\nStatus: published\n\nx\n",
    }
    assert published_titles(files) == ["B", "A"]


def test_categories_join_the_tags() -> None:
    text = "---\ntitle: A\ndate: 2025-01-01\ntags: [go]\ncategories: release news\n---\nx\n"
    post = parse_post("content/a.md", text.encode(), OPTIONS).post
    assert post is not None
    assert [t.name for t in post.tags] == ["go", "release", "news"]
    text = "---\ntitle: A\ndate: 2025-01-01\ncategory: Web Development\n---\nx\n"
    post = parse_post("content/a.md", text.encode(), OPTIONS).post
    assert post is not None and [t.slug for t in post.tags] == ["web-development"]


def test_hugo_list_pages_are_not_posts_by_default(tmp_path: Path) -> None:
    content = tmp_path / "content"
    (content / "posts").mkdir(parents=True)
    for name in ("_index.md", "_index.fr.md", "posts/_index.md", "posts/a.md", "posts/pic.png"):
        (content / name).write_text("x")
    found = find_site_files(content, tmp_path, ContentSettings().exclude)
    assert [p.name for p in found.posts] == ["a.md"]
    assert [p.name for p in found.assets] == ["pic.png"]


def test_an_unreadable_date_falls_back_to_the_file_names_date(tmp_path: Path) -> None:
    """jekyllrb.com's 3.9.3 post has `date: 2023-01-29 18:30:22 2023 -0800` (Ruby reads it):
    one such post must not stop a migrated blog's build. With a date prefix in the file name,
    that date is used and `check` warns; without one it stays an error."""
    root = tmp_path / "site"
    (root / "content").mkdir(parents=True)
    (root / "fieldfeed.toml").write_text(
        '[site]\ntitle = "T"\nurl = "https://t.example/"\ntimezone = "America/Los_Angeles"\n'
        'post_path = "news/{year}/{month}/{day}/{slug}/"\n',
        encoding="utf-8",
    )
    typo = "---\ntitle: Released\ndate: 2023-01-29 18:30:22 2023 -0800\n---\nBody.\n"
    (root / "content" / "2023-01-29-jekyll-3-9-3-released.markdown").write_text(typo)
    proc = check_subprocess(root)
    assert proc.returncode == 0, proc.stderr
    assert (
        "content/2023-01-29-jekyll-3-9-3-released.markdown:3: warning: date: expected ISO 8601, "
        "got '2023-01-29 18:30:22 2023 -0800'; using the file name's date 2023-01-29"
    ) in proc.stderr
    build(root)
    (entry,) = feed(root).entries
    assert entry.link == "https://t.example/news/2023/01/29/jekyll-3-9-3-released/"

    (root / "content" / "2023-01-29-jekyll-3-9-3-released.markdown").rename(
        root / "content" / "released.md"
    )
    proc = check_subprocess(root)
    assert proc.returncode == 1
    assert "content/released.md:3: date: expected ISO 8601" in proc.stderr
