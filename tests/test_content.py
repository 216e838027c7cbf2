"""Content loading: the rules of PRODUCT.md "Posts", the bad-input corpus, the build cache."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldfeed.config import Settings, parse_settings
from fieldfeed.errors import ContentError
from fieldfeed.model import Post, Tag
from fieldfeed.site.buildcache import BodyUnavailableError, BuildCache, file_stat
from fieldfeed.site.content import (
    ParsedFile,
    ParseOptions,
    SiteContent,
    cache_fingerprint,
    check_content,
    load_content,
    parse_post,
)

NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
BAD_POSTS = Path(__file__).parent / "bad_posts"

CONFIG = """\
[site]
title = "Test"
url = "https://example.org/"
timezone = "Europe/Berlin"
{site_extra}

[content]
summary_chars = {summary_chars}
words_per_minute = 10
"""


def make_site(root: Path, *, summary_chars: int = 60, site_extra: str = "") -> Settings:
    text = CONFIG.format(summary_chars=summary_chars, site_extra=site_extra)
    (root / "fieldfeed.toml").write_text(text)
    (root / "content").mkdir(exist_ok=True)
    return parse_settings(text, root)


def write(settings: Settings, name: str, text: str | bytes) -> Path:
    path = settings.content_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def post(settings: Settings, name: str, front: str = "", body: str = "Body text.\n") -> Path:
    return write(settings, name, f"---\n{front}---\n{body}")


def load(settings: Settings, **kwargs: object) -> SiteContent:
    return load_content(settings, NOW, **kwargs)  # type: ignore[arg-type]


def only(settings: Settings) -> Post:
    (found,) = load(settings).posts
    return found


@pytest.fixture
def site(tmp_path: Path) -> Settings:
    return make_site(tmp_path)


# --- the bad-input corpus ------------------------------------------------------------------

CASES = sorted(p.name for p in BAD_POSTS.iterdir() if (p / "expected.txt").exists())


@pytest.mark.parametrize("case", CASES)
def test_bad_posts_corpus(tmp_path: Path, case: str) -> None:
    settings = make_site(tmp_path)
    for source in sorted((BAD_POSTS / case).iterdir()):
        if source.suffix == ".md":
            shutil.copy(source, settings.content_dir / source.name)
    expected = (BAD_POSTS / case / "expected.txt").read_text().splitlines()

    with pytest.raises(ContentError) as info:
        load(settings)

    assert [str(p) for p in info.value.problems] == expected
    assert str(info.value).endswith("nothing was published")
    assert check_content(settings, NOW)[1] == info.value.problems


def test_corpus_covers_the_required_cases() -> None:
    required = {
        "non_utf8", "unclosed_front_matter", "invalid_yaml", "invalid_toml", "missing_title",
        "missing_date", "bad_date", "duplicate_slug", "duplicate_id", "tags_number",
        "draft_string", "title_list",
    }  # fmt: skip
    assert required <= set(CASES)


# --- fields --------------------------------------------------------------------------------


def test_full_post(site: Settings) -> None:
    post(
        site,
        "posts/2024-05-01-hello-world.md",
        "title: Hello, World\ndate: 2024-05-01T18:15:00+02:00\nupdated: 2024-06-01\n"
        "tags: [Databases, Distributed Systems]\nauthor: A. Writer\nimage: img/cover.png\n"
        "unknown_key: fine\n",
        "Read [the other post](../other/) and [the notes](#notes)[^1].\n\n"
        "![diagram](diagram.png)\n\n## Notes\n\n[^1]: A footnote.\n",
    )
    p = only(site)
    assert p.source == "content/posts/2024-05-01-hello-world.md"
    assert p.slug == "hello-world"
    assert p.title == "Hello, World"
    assert p.date == datetime(2024, 5, 1, 18, 15, tzinfo=timezone(timedelta(hours=2)))
    assert p.updated == datetime(2024, 6, 1, tzinfo=BERLIN)
    assert p.tags == (
        Tag("Databases", "databases"),
        Tag("Distributed Systems", "distributed-systems"),
    )
    assert p.url == p.id == "https://example.org/posts/hello-world/"
    assert p.author == "A. Writer"
    assert p.image == "https://example.org/posts/hello-world/img/cover.png"
    assert p.draft is False
    assert 'href="https://example.org/posts/other/"' in p.html
    assert 'href="https://example.org/posts/hello-world/#notes"' in p.html
    assert 'href="https://example.org/posts/hello-world/#fn:1"' in p.html
    assert 'src="https://example.org/posts/hello-world/diagram.png"' in p.html
    assert '<h2 id="notes">Notes</h2>' in p.html
    assert p.summary == "Read the other post and the notes.\n\nNotes"
    assert p.word_count == 8
    assert p.read_minutes == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T18:15:00+02:00", datetime(2024, 5, 1, 16, 15, tzinfo=UTC)),
        ("'2024-05-01T18:15:00Z'", datetime(2024, 5, 1, 18, 15, tzinfo=UTC)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=BERLIN)),
        ("'2024-05-01'", datetime(2024, 5, 1, tzinfo=BERLIN)),
        ("2024-05-01 18:15:00", datetime(2024, 5, 1, 18, 15, tzinfo=BERLIN)),
        ("2024-05-01 18:15:32 +0530", datetime(2024, 5, 1, 12, 45, 32, tzinfo=UTC)),
        ("2024-05-01 18:15", datetime(2024, 5, 1, 18, 15, tzinfo=BERLIN)),
        ("2024-05-01T08:15 UTC", datetime(2024, 5, 1, 8, 15, tzinfo=UTC)),
        ("2024-01-15 9:05:00 -0800", datetime(2024, 1, 15, 17, 5, tzinfo=UTC)),
    ],
)
def test_yaml_dates(site: Settings, value: str, expected: datetime) -> None:
    post(site, "x.md", f"title: X\ndate: {value}\n")
    got = only(site).date
    assert got.tzinfo is not None
    assert got == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T18:15:00+02:00", datetime(2024, 5, 1, 16, 15, tzinfo=UTC)),
        ("2024-05-01T18:15:00", datetime(2024, 5, 1, 18, 15, tzinfo=BERLIN)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=BERLIN)),
        ('"2024-05-01 18:15:32 +0530"', datetime(2024, 5, 1, 12, 45, 32, tzinfo=UTC)),
    ],
)
def test_toml_dates(site: Settings, value: str, expected: datetime) -> None:
    write(site, "x.md", f'+++\ntitle = "X"\ndate = {value}\n+++\nBody\n')
    assert only(site).date == expected


def test_date_from_file_name_is_midnight_in_site_timezone(site: Settings) -> None:
    post(site, "2024-03-31-dst-day.md", "title: DST\n")
    p = only(site)
    assert p.date == p.updated == datetime(2024, 3, 31, tzinfo=BERLIN)
    assert p.date.utcoffset() == timedelta(hours=1)
    assert p.slug == "dst-day"


def test_time_only_toml_date_is_an_error(site: Settings) -> None:
    write(site, "x.md", '+++\ntitle = "X"\ndate = 18:15:00\n+++\nBody\n')
    with pytest.raises(ContentError) as info:
        load(site)
    assert str(info.value.problems[0]) == (
        "content/x.md:3: date: expected ISO 8601, got datetime.time(18, 15)"
    )


def test_slug_from_front_matter_and_custom_post_path(tmp_path: Path) -> None:
    settings = make_site(tmp_path, site_extra='post_path = "blog/{slug}.html"')
    post(settings, "2024-05-01-ignored.md", "title: X\nslug: Über Caching!\n")
    p = only(settings)
    assert p.slug == "uber-caching"
    assert p.url == "https://example.org/blog/uber-caching.html"


def test_page_bundle_index_takes_folder_name(site: Settings) -> None:
    post(site, "posts/2024-05-01-bundle/index.md", "title: Bundle\n", "![x](photo.jpg)\n")
    p = only(site)
    assert p.slug == "bundle"
    assert p.date == datetime(2024, 5, 1, tzinfo=BERLIN)
    assert 'src="https://example.org/posts/bundle/photo.jpg"' in p.html


def test_explicit_id_survives_rename(site: Settings) -> None:
    path = post(site, "2024-05-01-old-name.md", "title: X\nid: urn:uuid:1234\n")
    assert only(site).id == "urn:uuid:1234"
    path.rename(path.with_name("2024-05-01-new-name.md"))
    renamed = only(site)
    assert (renamed.id, renamed.slug) == ("urn:uuid:1234", "new-name")


def test_numbers_as_strings(site: Settings) -> None:
    post(site, "2024-05-01-x.md", "title: 1984\nid: 42\ntags: [2024, python]\n")
    p = only(site)
    assert (p.title, p.id) == ("1984", "42")
    assert [t.slug for t in p.tags] == ["2024", "python"]


# --- tags ----------------------------------------------------------------------------------


def test_tags_comma_string_and_dedupe_within_post(site: Settings) -> None:
    tags = "'Rust, rust ,  Distributed   Systems,distributed-systems,'"
    post(site, "2024-05-01-x.md", f"tags: {tags}\ntitle: X\n")
    assert only(site).tags == (
        Tag("Rust", "rust"),
        Tag("Distributed Systems", "distributed-systems"),
    )


def test_tag_display_name_is_oldest_posts_spelling(site: Settings) -> None:
    post(site, "2024-05-02-newer.md", "title: Newer\ntags: [distributed-systems]\n")
    post(site, "2024-05-01-older.md", "title: Older\ntags: [Distributed Systems]\n")
    post(site, "2024-04-01-draft.md", "title: Draft\ndraft: true\ntags: [DISTRIBUTED systems]\n")
    posts = load(site).posts
    assert [p.slug for p in posts] == ["newer", "older"]
    assert {t for p in posts for t in p.tags} == {Tag("Distributed Systems", "distributed-systems")}


def test_empty_tags(site: Settings) -> None:
    post(site, "2024-05-01-x.md", "title: X\ntags:\n")
    assert only(site).tags == ()


# --- summaries -----------------------------------------------------------------------------


def test_explicit_summary_is_plain_text(site: Settings) -> None:
    """Markdown is read (imported Jekyll/Hugo summaries are Markdown); HTML is not: text that
    looks like a tag stays visible, as written."""
    post(site, "2024-05-01-x.md", "title: X\nsummary: 'A *bold* [claim](x/) & <b>more</b>'\n")
    assert only(site).summary == "A bold claim & <b>more</b>"


def test_explicit_summary_keeps_angle_brackets_and_paragraphs(site: Settings) -> None:
    summary = "Ein <Kaffee> für `a < b` &amp; <https://example.org/x>\n\n<div>Zweiter</div>  Absatz"
    post(site, "2024-05-01-x.md", f"title: X\nsummary: {json.dumps(summary)}\n")
    assert only(site).summary == (
        "Ein <Kaffee> für a < b & https://example.org/x\n\n<div>Zweiter</div> Absatz"
    )


def test_summary_before_more_marker(site: Settings) -> None:
    post(
        site,
        "2024-05-01-x.md",
        "title: X\n",
        "First *paragraph*.\n\nSecond one.\n\n<!-- more -->\n\nThe rest is long. " * 1 + "x " * 100,
    )
    assert only(site).summary == "First paragraph.\n\nSecond one."


def test_more_marker_with_nothing_before_it_falls_back(site: Settings) -> None:
    post(site, "2024-05-01-x.md", "title: X\n", "<!-- more -->\n\nOnly after.\n")
    assert only(site).summary == "Only after."


def test_summary_cut_at_word_boundary(site: Settings) -> None:
    body = "```\ncode is skipped\n```\n\n" + "Alpha beta gamma delta. " * 10 + "\n\nMore.\n"
    post(site, "2024-05-01-x.md", "title: X\n", body)
    summary = only(site).summary
    assert summary == "Alpha beta gamma delta. Alpha beta gamma delta. Alpha beta…"
    assert len(summary) <= 61


def test_summary_cut_from_the_body_keeps_paragraph_breaks(site: Settings) -> None:
    post(site, "2024-05-01-x.md", "title: X\n", "One line\nwrapped.\n\n## Heading\n\nThird " * 3)
    assert (
        only(site).summary == "One line wrapped.\n\nHeading\n\nThird One line wrapped.\n\nHeading…"
    )


# --- drafts, future posts, order -----------------------------------------------------------


def test_drafts_and_future_posts_counted_and_left_out(site: Settings) -> None:
    post(site, "2024-05-01-published.md", "title: P\n")
    post(site, "2024-05-02-draft.md", "title: D\ndraft: true\n")
    post(site, "future.md", "title: F\ndate: 2025-01-01T13:00:00Z\n")
    post(site, "now.md", "title: N\ndate: 2025-01-01T12:00:00Z\n")
    content = load(site)
    assert [p.slug for p in content.posts] == ["now", "published"]
    assert (content.files, content.drafts, content.future) == (4, 1, 1)


def test_drafts_are_still_validated(site: Settings) -> None:
    post(site, "draft.md", "title: D\ndraft: true\ndate: soon\n")
    with pytest.raises(ContentError) as info:
        load(site)
    assert [str(p) for p in info.value.problems] == [
        "content/draft.md:4: date: expected ISO 8601, got 'soon'"
    ]


def test_order_newest_first_then_slug(site: Settings) -> None:
    post(site, "2024-05-01-b.md", "title: B\n")
    post(site, "2024-05-01-a.md", "title: A\n")
    post(site, "c.md", "title: C\ndate: 2024-06-01T00:00:00Z\n")
    assert [p.slug for p in load(site).posts] == ["c", "a", "b"]


def test_which_files_count(site: Settings) -> None:
    post(site, "2024-05-01-a.md", "title: A\n")
    post(site, "nested/deeper/2024-05-01-b.markdown", "title: B\n")
    write(site, ".hidden.md", "junk")
    write(site, ".git/2024-05-01-c.md", "junk")
    write(site, "notes.txt", "junk")
    write(site, "images/diagram.svg", "<svg/>")
    content = load(site)
    assert content.files == 2
    assert sorted(p.slug for p in content.posts) == ["a", "b"]


def test_empty_content_folder(site: Settings) -> None:
    content = load(site)
    assert (content.posts, content.files, content.rendered) == ((), 0, 0)


# --- control characters and warnings -------------------------------------------------------


def test_control_characters_stripped_with_warning(site: Settings) -> None:
    write(site, "2024-05-01-x.md", "---\ntitle: Bad\x00 title\x1b\n---\nBody\x0b text.\n")
    content = load(site)
    (p,) = content.posts
    assert p.title == "Bad title"
    assert "\x0b" not in p.html
    assert [str(w) for w in content.warnings] == [
        "content/2024-05-01-x.md: warning: removed 3 XML-invalid control character(s)"
    ]


def test_errors_in_every_file_are_reported_sorted(site: Settings) -> None:
    post(site, "b.md", "title: B\n")
    post(site, "a.md", "date: 2024-01-01\n")
    with pytest.raises(ContentError) as info:
        load(site)
    assert [str(p) for p in info.value.problems] == [
        "content/a.md:1: title: required",
        "content/b.md:1: date: required (or start the file name with YYYY-MM-DD-)",
    ]


# --- determinism and the build cache -------------------------------------------------------


def make_posts(settings: Settings, n: int) -> None:
    for i in range(n):
        post(
            settings,
            f"posts/2024-01-{i % 28 + 1:02d}-post-{i}.md",
            f"title: Post {i}\ntags: [Tag {i % 3}]\n",
            f"Paragraph {i} with [a link](../x/).\n\n```python\nprint({i})\n```\n",
        )


def without_counts(content: SiteContent) -> SiteContent:
    return dataclasses.replace(content, rendered=0)


def test_two_loads_are_equal_and_second_comes_from_cache(site: Settings) -> None:
    make_posts(site, 5)
    first = load(site)
    second = load(site)
    assert (first.rendered, second.rendered) == (5, 0)
    assert without_counts(first) == without_counts(second)
    assert without_counts(load(site, use_cache=False)) == without_counts(first)


def test_editing_one_post_rerenders_only_that_post(site: Settings) -> None:
    make_posts(site, 5)
    load(site)
    path = site.content_dir / "posts/2024-01-03-post-2.md"
    path.write_text(path.read_text().replace("Paragraph 2", "Edited paragraph"))
    content = load(site)
    assert content.rendered == 1
    edited = next(p for p in content.posts if p.slug == "post-2")
    assert "Edited paragraph" in edited.html
    assert load(site).rendered == 0


def test_settings_change_invalidates_cache(tmp_path: Path) -> None:
    settings = make_site(tmp_path)
    make_posts(settings, 3)
    load(settings)
    changed = make_site(tmp_path, site_extra='post_path = "p/{slug}/"')
    content = load(changed)
    assert content.rendered == 3
    assert all(p.url.startswith("https://example.org/p/") for p in content.posts)


@pytest.mark.parametrize("garbage", [b"", b"not a pickle", b"\x80\x05K\x01."])
def test_corrupted_cache_is_rebuilt(site: Settings, garbage: bytes) -> None:
    make_posts(site, 3)
    first = load(site)
    (site.state_dir / "cache/index.pickle").write_bytes(garbage)
    again = load(site)
    assert again.rendered == 3
    assert without_counts(again) == without_counts(first)
    assert load(site).rendered == 0


def body_files(settings: Settings) -> list[Path]:
    return sorted((settings.state_dir / "cache/html").iterdir())


def test_cached_posts_do_not_hold_their_bodies(site: Settings) -> None:
    make_posts(site, 3)
    cold = load(site)
    warm = load(site)
    for content in (cold, warm):
        assert not any(p.body_in_memory for p in content.posts)
        assert all("<p>Paragraph" in p.html for p in content.posts)
    assert len(body_files(site)) == 3
    assert all(p.body_in_memory for p in load(site, use_cache=False).posts)


def test_a_missing_body_file_is_a_miss(site: Settings) -> None:
    make_posts(site, 3)
    first = load(site)
    body_files(site)[0].unlink()
    again = load(site)
    assert again.rendered == 1
    assert without_counts(again) == without_counts(first)


def test_a_damaged_body_raises_and_is_rendered_again(site: Settings) -> None:
    make_posts(site, 1)
    content = load(site)
    (path,) = body_files(site)
    path.write_bytes(path.read_bytes()[:-20])  # torn write
    with pytest.raises(BodyUnavailableError, match="damaged"):
        _ = content.posts[0].html
    again = load(site)
    assert again.rendered == 1 and "Paragraph 0" in again.posts[0].html


def test_a_pruned_body_raises_instead_of_reading_empty(site: Settings) -> None:
    make_posts(site, 1)
    content = load(site)
    shutil.rmtree(site.state_dir / "cache/html")
    with pytest.raises(BodyUnavailableError, match="run the command again"):
        _ = content.posts[0].html


def test_edited_post_body_survives_one_more_build(site: Settings) -> None:
    """A process still holding the previous build's posts can read their bodies."""
    make_posts(site, 2)
    before = load(site)
    original = set(body_files(site))
    for i in range(2):  # each build edits one post
        path = site.content_dir / f"posts/2024-01-0{i + 1}-post-{i}.md"
        path.write_text(path.read_text().replace(f"Paragraph {i}", "Edited"))
        load(site)
        if i == 0:
            assert all("Paragraph" in p.html for p in before.posts)
            assert len(body_files(site)) == 3
    # post-0's first body is pruned two builds later; post-1's stays one more build.
    assert len(original & set(body_files(site))) == 1
    assert len(body_files(site)) == 3


def test_same_size_edit_in_the_same_second_is_seen(site: Settings) -> None:
    """The stat shortcut never hides an edit: recent files are always hashed."""
    make_posts(site, 1)
    path = site.content_dir / "posts/2024-01-01-post-0.md"
    load(site)
    stat = path.stat()
    path.write_text(path.read_text().replace("Paragraph 0", "Paragraph X"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime
    content = load(site)
    assert content.rendered == 1 and "Paragraph X" in content.posts[0].html


def test_only_old_unchanged_files_skip_hashing(site: Settings) -> None:
    make_posts(site, 2)
    old = 1_000_000_000_000_000_000  # 2001
    aged = site.content_dir / "posts/2024-01-01-post-0.md"
    os.utime(aged, ns=(old, old))
    load(site)  # hashes every file, records their stat
    cache = BuildCache.load(
        site.state_dir / "cache", cache_fingerprint(ParseOptions.from_settings(site))
    )
    fresh = site.content_dir / "posts/2024-01-02-post-1.md"
    assert cache.key_for_stat("content/posts/2024-01-01-post-0.md", file_stat(aged.stat()))
    # Written less than a second before the build that recorded it: always hashed.
    assert cache.key_for_stat("content/posts/2024-01-02-post-1.md", file_stat(fresh.stat())) is None
    aged.write_text(aged.read_text() + "more\n")
    os.utime(aged, ns=(old, old))  # an old mtime restored on new bytes: ctime and size differ
    assert cache.key_for_stat("content/posts/2024-01-01-post-0.md", file_stat(aged.stat())) is None


def test_site_folder_can_be_moved_with_its_cache(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    settings = make_site(tmp_path / "a")
    make_posts(settings, 2)
    bodies = [p.html for p in load(settings).posts]
    shutil.move(tmp_path / "a", tmp_path / "b")
    moved = load(make_site(tmp_path / "b"))
    assert moved.rendered == 0
    assert [p.html for p in moved.posts] == bodies


def test_legacy_cache_file_is_removed(site: Settings) -> None:
    make_posts(site, 1)
    legacy = site.state_dir / "cache/posts.pickle"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"x" * 100)
    load(site)
    assert not legacy.exists()


def test_failed_posts_are_not_cached(site: Settings) -> None:
    post(site, "bad.md", "title: X\n")
    for _ in range(2):
        with pytest.raises(ContentError):
            load(site)


def test_process_pool_gives_the_same_posts(site: Settings) -> None:
    make_posts(site, 60)
    pooled = load(site, jobs=2, use_cache=False)
    serial = load(site, jobs=1, use_cache=False)
    assert pooled.rendered == serial.rendered == 60
    assert pooled == serial


def test_process_pool_reports_errors(site: Settings) -> None:
    make_posts(site, 60)
    post(site, "broken.md", "title: [x]\n")
    with pytest.raises(ContentError) as info:
        load(site, jobs=2)
    assert [str(p) for p in info.value.problems] == [
        "content/broken.md:1: date: required (or start the file name with YYYY-MM-DD-)",
        "content/broken.md:2: title: expected a string, got a list",
    ]


def test_naive_now_is_refused(site: Settings) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        load_content(site, datetime(2025, 1, 1))


def test_empty_date_falls_back_to_file_name(site: Settings) -> None:
    post(site, "2024-05-01-x.md", "title: X\ndate:\n")
    assert only(site).date == datetime(2024, 5, 1, tzinfo=BERLIN)


def test_tags_list_with_a_mapping(site: Settings) -> None:
    post(site, "2024-05-01-x.md", "title: X\ntags: [ok, {a: b}]\n")
    with pytest.raises(ContentError) as info:
        load(site)
    assert [str(p) for p in info.value.problems] == [
        "content/2024-05-01-x.md:3: tags: expected a list or a comma-separated string, "
        "got a list containing a mapping"
    ]


# --- nothing crashes on arbitrary input ----------------------------------------------------

OPTIONS = ParseOptions("https://example.org/", "posts/{slug}/", "Europe/Berlin", 80, 230)
KEYS = ["title", "date", "updated", "tags", "summary", "author", "draft", "slug", "id", "image"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.dates(),
    st.datetimes(timezones=st.none() | st.just(UTC)),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=6)


def assert_parsed(result: ParsedFile) -> None:
    assert isinstance(result, ParsedFile)
    # A file yields a post exactly when it has no errors: nothing is dropped silently.
    assert (result.post is None) == any(not p.warning for p in result.problems)
    if result.post is not None:
        assert result.post.date.tzinfo is not None
        assert result.post.updated.tzinfo is not None
        assert result.post.url.startswith("https://example.org/posts/")


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=8), st.text(max_size=200))
def test_any_front_matter_values_give_a_post_or_problems(
    meta: dict[str, object], body: str
) -> None:
    text = "---\n" + yaml.safe_dump(meta, allow_unicode=True) + "---\n" + body
    assert_parsed(
        parse_post("content/2024-05-01-fuzz.md", text.encode("utf-8", "replace"), OPTIONS)
    )


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(lambda t: ("---\n" + t).encode()))
def test_arbitrary_bytes_give_a_post_or_problems(raw: bytes) -> None:
    assert_parsed(parse_post("content/fuzz.md", raw, OPTIONS))
