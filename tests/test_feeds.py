"""fieldfeed.feeds.build: structure, ordering, ids, determinism and the golden varied-site feeds."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import pytest
from lxml import etree

from fieldfeed.config import parse_settings
from fieldfeed.feeds.build import EMPTY_FEED_UPDATED, FeedFile, build_feeds
from fieldfeed.model import Post, Tag

sys.path.insert(0, str(Path(__file__).parent))
import regen_golden
from feedcheck import json_feed_problems, load_site_posts

TZ = ZoneInfo("Europe/Berlin")
ATOM = "{http://www.w3.org/2005/Atom}"
CONFIG = """
[site]
title = "Field Notes"
url = "https://example.org/"
description = "Notes"
language = "en-GB"
author = "A. Writer"
email = "writer@example.org"
timezone = "Europe/Berlin"
[feeds]
max_items = {max_items}
stylesheet = {stylesheet}
"""


def settings(max_items: int = 50, stylesheet: bool = False):  # type: ignore[no-untyped-def]
    text = CONFIG.format(max_items=max_items, stylesheet=str(stylesheet).lower())
    return parse_settings(text, Path("/site"))


def post(n: int, *, tags: tuple[Tag, ...] = (), **changes: object) -> Post:
    date = datetime(2024, 5, 1, 9, 0, tzinfo=TZ) + timedelta(days=n)
    url = f"https://example.org/posts/p{n}/"
    base = Post(
        source=f"content/p{n}.md",
        slug=f"p{n}",
        title=f"Post {n}",
        date=date,
        updated=date,
        tags=tags,
        summary=f"Summary {n}",
        html=f'<p>Body {n} <img src="img.png"> <a href="#fn:1">1</a></p>',
        url=url,
        id=url,
        author=None,
        image=None,
        draft=False,
        word_count=3,
        read_minutes=1,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def files(feeds: tuple[FeedFile, ...]) -> dict[str, bytes]:
    return {f.path: f.data for f in feeds}


def rss_items(data: bytes) -> list[etree._Element]:
    return etree.fromstring(data).findall("channel/item")


def test_site_and_tag_feeds_exist_in_three_formats() -> None:
    go, db = Tag("Go", "go"), Tag("Databases", "databases")
    out = files(build_feeds(settings(), [post(1, tags=(go,)), post(2, tags=(go, db))]))
    assert sorted(out) == [
        "atom.xml", "feed.json", "rss.xml",
        "tags/databases/atom.xml", "tags/databases/feed.json", "tags/databases/rss.xml",
        "tags/go/atom.xml", "tags/go/feed.json", "tags/go/rss.xml",
    ]  # fmt: skip
    assert len(rss_items(out["tags/databases/rss.xml"])) == 1
    channel = etree.fromstring(out["tags/go/rss.xml"]).find("channel")
    assert channel.findtext("title") == "Field Notes — Go"
    assert channel.findtext("link") == "https://example.org/"  # the site, not the feed
    self_link = channel.find(f"{ATOM}link")
    assert self_link.get("rel") == "self"
    assert self_link.get("href") == "https://example.org/tags/go/rss.xml"


def test_newest_first_and_max_items() -> None:
    posts = [post(n) for n in (3, 1, 5, 2, 4)]
    out = files(build_feeds(settings(max_items=3), posts))
    assert [i.findtext("title") for i in rss_items(out["rss.xml"])] == [
        "Post 5",
        "Post 4",
        "Post 3",
    ]
    atom = etree.fromstring(out["atom.xml"])
    assert [e.findtext(f"{ATOM}title") for e in atom.findall(f"{ATOM}entry")] == [
        "Post 5", "Post 4", "Post 3",
    ]  # fmt: skip
    assert [i["title"] for i in json.loads(out["feed.json"])["items"]] == [
        "Post 5", "Post 4", "Post 3",
    ]  # fmt: skip


def test_drafts_are_left_out() -> None:
    out = files(build_feeds(settings(), [post(1), post(2, draft=True)]))
    assert [i.findtext("title") for i in rss_items(out["rss.xml"])] == ["Post 1"]


def test_rss_item_fields() -> None:
    p = post(1, tags=(Tag("Distributed Systems", "distributed-systems"),), summary="a < b & c")
    item = rss_items(files(build_feeds(settings(), [p]))["rss.xml"])[0]
    assert item.findtext("link") == p.url
    guid = item.find("guid")
    assert guid.text == p.url and guid.get("isPermaLink") == "true"
    assert item.findtext("pubDate") == "Thu, 02 May 2024 09:00:00 +0200"
    assert item.findtext("category") == "Distributed Systems"
    assert item.findtext("{http://purl.org/dc/elements/1.1/}creator") == "A. Writer"
    # description is HTML: the plain-text summary is escaped once more.
    assert item.findtext("description") == "a &lt; b &amp; c"
    body = item.findtext("{http://purl.org/rss/1.0/modules/content/}encoded")
    assert 'src="https://example.org/posts/p1/img.png"' in body
    assert 'href="https://example.org/posts/p1/#fn:1"' in body


def test_summary_paragraphs_survive_in_every_feed() -> None:
    """A reader collapses a blank line in HTML: RSS gets one <p> per paragraph; Atom and JSON
    Feed summaries are plain text and keep the blank line."""
    p = post(1, summary="First <one> & more.\n\nSecond.")
    out = files(build_feeds(settings(), [p]))
    item = rss_items(out["rss.xml"])[0]
    assert item.findtext("description") == "<p>First &lt;one&gt; &amp; more.</p><p>Second.</p>"
    entry = etree.fromstring(out["atom.xml"]).find("{http://www.w3.org/2005/Atom}entry")
    assert entry.findtext("{http://www.w3.org/2005/Atom}summary") == p.summary
    assert json.loads(out["feed.json"])["items"][0]["summary"] == p.summary
    parsed = feedparser.parse(out["rss.xml"])
    assert parsed.bozo == 0 and "<p>Second.</p>" in parsed.entries[0].summary


def test_explicit_id_is_kept_and_not_a_permalink() -> None:
    p = post(1, id="tag:example.org,2024:kept")
    out = files(build_feeds(settings(), [p]))
    guid = rss_items(out["rss.xml"])[0].find("guid")
    assert (guid.text, guid.get("isPermaLink")) == ("tag:example.org,2024:kept", "false")
    entry = etree.fromstring(out["atom.xml"]).find(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}id") == "tag:example.org,2024:kept"
    assert json.loads(out["feed.json"])["items"][0]["id"] == "tag:example.org,2024:kept"


def test_bare_id_becomes_a_stable_tag_uri() -> None:
    out = files(build_feeds(settings(), [post(1, id="legacy-42")]))
    entry = etree.fromstring(out["atom.xml"]).find(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}id") == "tag:example.org,2000:legacy-42"


def test_atom_entry_fields() -> None:
    p = post(1, updated=datetime(2024, 6, 1, 12, 0, 30, 123456, tzinfo=UTC), author="Guest")
    atom = etree.fromstring(files(build_feeds(settings(), [p]))["atom.xml"])
    assert atom.get("{http://www.w3.org/XML/1998/namespace}lang") == "en-GB"
    assert atom.findtext(f"{ATOM}updated") == "2024-06-01T12:00:30+00:00"
    links = atom.findall(f"{ATOM}link")
    assert [(x.get("rel"), x.get("href")) for x in links] == [
        ("self", "https://example.org/atom.xml"),
        ("alternate", "https://example.org/"),
    ]
    entry = atom.find(f"{ATOM}entry")
    assert entry.find(f"{ATOM}content").get("type") == "html"
    assert entry.findtext(f"{ATOM}published") == "2024-05-02T09:00:00+02:00"
    assert entry.findtext(f"{ATOM}author/{ATOM}name") == "Guest"
    assert len(entry.findall(f"{ATOM}link")) == 1  # feedgen #135: never a second link


def test_tag_spellings_merge_under_the_first_name() -> None:
    old = post(1, tags=(Tag("Distributed Systems", "distributed-systems"),))
    new = post(2, tags=(Tag("distributed-systems", "distributed-systems"),))
    out = files(build_feeds(settings(), [new, old]))
    assert "tags/distributed-systems/rss.xml" in out
    assert [i.findtext("category") for i in rss_items(out["rss.xml"])] == [
        "Distributed Systems", "Distributed Systems",
    ]  # fmt: skip


def test_control_characters_and_cdata_terminator_survive() -> None:
    p = post(1, title="Bell \x07 here", html="<pre><code>x = ']]>'</code></pre>")
    out = files(build_feeds(settings(), [p]))
    for name in ("rss.xml", "atom.xml"):
        parsed = feedparser.parse(out[name])
        assert not parsed.bozo, name
        assert parsed.entries[0].title == "Bell  here"
        assert "]]>" in parsed.entries[0].content[0].value


def test_empty_site_gives_valid_deterministic_feeds() -> None:
    out = files(build_feeds(settings(), []))
    assert etree.fromstring(out["atom.xml"]).findtext(f"{ATOM}updated") == (
        EMPTY_FEED_UPDATED.isoformat()
    )
    assert rss_items(out["rss.xml"]) == []
    assert json.loads(out["feed.json"])["items"] == []
    assert json_feed_problems(out["feed.json"]) == []
    assert out == files(build_feeds(settings(), []))


def test_stylesheet_instruction_and_file() -> None:
    out = files(build_feeds(settings(stylesheet=True), [post(1)]))
    assert b'<?xml-stylesheet type="text/xsl" href="/feed.xsl"?>' in out["rss.xml"]
    assert b'<?xml-stylesheet type="text/xsl" href="/feed.xsl"?>' in out["atom.xml"]
    etree.XSLT(etree.fromstring(out["feed.xsl"]))  # compiles
    html = str(etree.XSLT(etree.fromstring(out["feed.xsl"]))(etree.fromstring(out["rss.xml"])))
    assert "Post 1" in html
    assert "feed.xsl" not in files(build_feeds(settings(stylesheet=False), [post(1)]))


def test_json_feed_shape() -> None:
    p = post(1, tags=(Tag("Go", "go"),), image="https://example.org/i.png")
    data = files(build_feeds(settings(), [p]))["feed.json"]
    assert json_feed_problems(data) == []
    feed = json.loads(data)
    assert list(feed) == [
        "version", "title", "home_page_url", "feed_url", "description", "language", "authors",
        "items",
    ]  # fmt: skip
    assert feed["feed_url"] == "https://example.org/feed.json"
    item = feed["items"][0]
    assert item["date_published"] == "2024-05-02T09:00:00+02:00"
    assert item["tags"] == ["Go"] and item["image"] == "https://example.org/i.png"


# --- the varied site: golden files and stability -------------------------------------------


def varied_feeds(site: Path = regen_golden.VARIED_SITE) -> dict[str, bytes]:
    settings_, posts = load_site_posts(site, regen_golden.GOLDEN_NOW)
    return files(build_feeds(settings_, posts))


def test_varied_site_matches_golden_files() -> None:
    root = regen_golden.GOLDEN / "feeds"
    golden = {
        p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
    }
    built = varied_feeds()
    assert sorted(built) == sorted(golden), "run: python tests/regen_golden.py feeds"
    for path in built:
        assert built[path] == golden[path], (
            f"{path} differs; run: python tests/regen_golden.py feeds"
        )


def test_varied_site_leaves_out_drafts_and_future_posts() -> None:
    built = varied_feeds()
    assert not any("secret-tag" in p or "future" in p for p in built)
    assert b"A draft nobody" not in built["rss.xml"] and b"from the future" not in built["rss.xml"]


def test_two_builds_are_byte_identical() -> None:
    assert varied_feeds() == varied_feeds()


def _ids(data: dict[str, bytes]) -> dict[str, list[str]]:
    ids = {}
    for path, blob in data.items():
        if path.endswith("rss.xml"):
            ids[path] = [i.findtext("guid") for i in rss_items(blob)]
        elif path.endswith("atom.xml"):
            root = etree.fromstring(blob)
            ids[path] = [e.findtext(f"{ATOM}id") for e in root.findall(f"{ATOM}entry")]
        elif path.endswith(".json"):
            ids[path] = [i["id"] for i in json.loads(blob)["items"]]
    return ids


def test_editing_a_post_changes_only_its_entry(tmp_path: Path) -> None:
    site = tmp_path / "varied"
    shutil.copytree(regen_golden.VARIED_SITE, site)
    before = varied_feeds(site)
    post_file = site / "content" / "posts" / "toml-front-matter.md"
    text = post_file.read_text(encoding="utf-8")
    post_file.write_text(
        text.replace(
            'title = "TOML front matter, and an update"', 'title = "Edited title"'
        ).replace("Written with TOML", "Rewritten with TOML"),
        encoding="utf-8",
    )
    after = varied_feeds(site)
    assert _ids(after) == _ids(before)
    for path in before:
        if path.endswith("rss.xml"):
            old, new = rss_items(before[path]), rss_items(after[path])
            changed = [
                o.findtext("guid")
                for o, n in zip(old, new, strict=True)
                if etree.tostring(o) != etree.tostring(n)
            ]
            expected = ["https://varied.example.org/blog/posts/toml-front-matter/"]
            has_post = expected[0] in [o.findtext("guid") for o in old]
            assert changed == (expected if has_post else []), path
    assert before["tags/xml/rss.xml"] == after["tags/xml/rss.xml"]


@pytest.mark.parametrize("name", ["rss.xml", "atom.xml"])
def test_varied_site_feedparser_sees_every_field(name: str) -> None:
    parsed = feedparser.parse(varied_feeds()[name])
    assert not parsed.bozo
    for entry in parsed.entries:
        assert entry.id and entry.link and entry.published_parsed and entry.summary
        assert entry.content[0].value
