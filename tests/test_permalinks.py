"""Post links that match the site they come from: ``post_path``, file-name slugs, permalinks.

The Jekyll test builds a copy of eight of jekyllrb.com's own news posts (tests/sites/jekyll-news,
MIT) and reads the feeds back with feedparser; its URLs were worked out by hand from Jekyll's
rules (``/news/:year/:month/:day/:title/``, the date in America/Los_Angeles, ``:title`` from the
file name as written) and are the ones jekyllrb.com serves.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldfeed.config import parse_settings
from fieldfeed.errors import ConfigError
from fieldfeed.permalinks import file_slug
from fieldfeed.site.content import check_content

JEKYLL_NEWS = Path(__file__).parent / "sites" / "jekyll-news"
NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)

#: The link of each copied post on jekyllrb.com.
JEKYLL_URLS = {
    # dots in the file name are kept, as Jekyll's :title keeps them
    "https://jekyllrb.com/news/2022/12/21/jekyll-sass-converter-3.0-released/",
    # 2013-05-06 02:12:52 +0200 is 2013-05-05 17:12 in Los Angeles
    "https://jekyllrb.com/news/2013/05/05/jekyll-1-0-0-released/",
    # filed 2016-08-24, dated 2016-08-25 09:50 +0300, which is 2016-08-24 23:50 in Los Angeles
    "https://jekyllrb.com/news/2016/08/24/jekyll-admin-initial-release/",
    # filed 2014-11-08, dated 2014-11-09 09:47:52 -0800: the front matter wins
    "https://jekyllrb.com/news/2014/11/09/jekyll-2-5-1-released/",
    # filed 2018-03-15, dated 2018-04-19 19:45:15 +0530 (07:15 in Los Angeles)
    "https://jekyllrb.com/news/2018/04/19/jekyll-3-8-0-released/",
    "https://jekyllrb.com/news/2017/10/19/diversity-open-source/",
    # no date key: the file name's date
    "https://jekyllrb.com/news/2020/08/05/jekyll-3-9-0-released/",
    "https://jekyllrb.com/news/2016/03/10/making-it-easier-to-contribute-to-jekyll/",
}


def fieldfeed(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIELDFEED_NOW": NOW.isoformat()}
    return subprocess.run(
        [sys.executable, "-m", "fieldfeed", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_jekyll_news_posts_get_the_urls_jekyllrb_com_serves(tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(JEKYLL_NEWS, site, ignore=shutil.ignore_patterns("public", ".fieldfeed"))
    proc = fieldfeed("build", "--site", site)
    assert proc.returncode == 0, proc.stderr
    for name in ("atom.xml", "rss.xml"):
        parsed = feedparser.parse((site / "public" / name).read_bytes())
        assert not parsed.bozo, (name, parsed.get("bozo_exception"))
        assert {e.link for e in parsed.entries} == JEKYLL_URLS, name
        assert {e.id for e in parsed.entries} == JEKYLL_URLS, name  # the default id is the link
    items = json.loads((site / "public" / "feed.json").read_bytes())["items"]
    assert {i["url"] for i in items} == {i["id"] for i in items} == JEKYLL_URLS


# --- [site] post_path --------------------------------------------------------------------


def config(post_path: str, url: str = "https://example.org/") -> str:
    return (
        "[site]\n"
        'title = "T"\n'
        f'url = "{url}"\n'
        'timezone = "America/Los_Angeles"\n'
        f"post_path = {json.dumps(post_path)}\n"
    )


@pytest.mark.parametrize(
    ("post_path", "message"),
    [
        ("{year}/{yaer}/{slug}/", "[site] post_path: unknown placeholder {yaer} (known: {slug}"),
        ("{title}/", "[site] post_path: unknown placeholder {title}"),
        ("{}/{slug}/", "[site] post_path: unknown placeholder {}"),
        ("{slug.upper}/", "[site] post_path: unknown placeholder {slug.upper}"),
        ("{year:04}/{slug}/", "[site] post_path: {year} takes no format spec or conversion"),
        ("{year/{slug}/", "[site] post_path '{year/{slug}/' is malformed: "),
        ("{slug}}/", "[site] post_path '{slug}}/' is malformed: Single '}'"),
        ("news/{year}/{month}/", "[site] post_path must contain {slug}, or posts of one day"),
        ("news/{{slug}}/", "[site] post_path must contain {slug}"),
        ("../{slug}/", "[site] post_path '../{slug}/' must not contain '.' or '..' segments"),
        ("{slug}/?x=1", "must be a path under [site] url"),
        ("https://other.example/{slug}/", "must be a path under [site] url"),
    ],
)
def test_a_bad_post_path_is_one_config_error_with_its_line(post_path: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(config(post_path), Path("/site"))
    text = str(info.value)
    assert text.startswith("fieldfeed.toml:5: "), text
    assert message in text
    assert "\n" not in text


def test_the_cli_reports_an_unknown_placeholder_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "fieldfeed.toml").write_text(config("{year}/{slgu}/"))
    (tmp_path / "content").mkdir()
    proc = fieldfeed("check", "--site", tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].endswith(
        "/fieldfeed.toml:5: [site] post_path: unknown placeholder {slgu} "
        "(known: {slug}, {year}, {month}, {day}, {category}, {categories})"
    )


def links(
    tmp_path: Path, posts: dict[str, str], post_path: str = "posts/{slug}/", url: str = ""
) -> tuple[dict[str, str], list[str]]:
    """Build ``posts`` on a site: {file name: link} of the posts, and the error lines."""
    text = config(post_path, url or "https://example.org/")
    (tmp_path / "fieldfeed.toml").write_text(text)
    for name, body in posts.items():
        path = tmp_path / "content" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    settings = parse_settings(text, tmp_path)
    content, errors = check_content(settings, NOW, jobs=1, use_cache=False)
    found = {p.source.rsplit("/", 1)[-1]: p.url for p in content.posts}
    return found, [str(e) for e in errors]


def post(extra: str = "", title: str = "A post") -> str:
    return f"---\ntitle: {title}\n{extra}---\nBody.\n"


def test_placeholders_use_the_date_in_the_site_timezone(tmp_path: Path) -> None:
    found, errors = links(
        tmp_path,
        {
            # 03:30 UTC on 1 March is still 28 February in Los Angeles
            "late.md": post("date: 2024-03-01T03:30:00Z\ncategory: Release Notes\n"),
            "plain.md": post("date: 2024-01-05\ncategories: [Community, release]\n"),
            "spaced.md": post("date: 2023-12-31 23:00:00 -0800\ncategories: news team\n"),
        },
        "/{category}/{year}/{month}/{day}/{slug}.html",  # a leading "/" is under url too
    )
    assert errors == []
    assert found == {
        "late.md": "https://example.org/release-notes/2024/02/29/late.html",
        "plain.md": "https://example.org/community/2024/01/05/plain.html",
        "spaced.md": "https://example.org/news/2023/12/31/spaced.html",
    }


def test_a_post_without_a_category_under_a_category_path_is_an_error(tmp_path: Path) -> None:
    found, errors = links(
        tmp_path,
        {"2024-01-02-none.md": post(), "2024-01-03-own.md": post("permalink: /misc/own/\n")},
        "{category}/{slug}/",
    )
    assert errors == [
        "content/2024-01-02-none.md:1: category: required: [site] post_path "
        "'{category}/{slug}/' uses {category} (set category, categories or permalink)"
    ]
    assert found == {"2024-01-03-own.md": "https://example.org/misc/own/"}


# --- slugs from file names ---------------------------------------------------------------


def test_a_url_safe_file_name_is_kept_as_written(tmp_path: Path) -> None:
    found, errors = links(
        tmp_path,
        {
            "2022-12-21-jekyll-sass-converter-3.0-released.markdown": post(),
            "2024-01-01-Mixed_Case~v1.2.md": post(),
            "2024-01-02-Grüße aus Köln.md": post(),  # not URL-safe: slugified as before
            "2024-01-03-a.b.md": post("slug: Own Slug 2.0\n"),  # slug: is slugified as before
        },
    )
    assert errors == []
    assert found == {
        "2022-12-21-jekyll-sass-converter-3.0-released.markdown": (
            "https://example.org/posts/jekyll-sass-converter-3.0-released/"
        ),
        "2024-01-01-Mixed_Case~v1.2.md": "https://example.org/posts/Mixed_Case~v1.2/",
        "2024-01-02-Grüße aus Köln.md": "https://example.org/posts/grusse-aus-koln/",
        "2024-01-03-a.b.md": "https://example.org/posts/own-slug-2-0/",
    }


@given(st.text(max_size=40))
def test_a_file_name_slug_is_url_safe_and_idempotent(name: str) -> None:
    slug = file_slug(name)
    assert re.fullmatch(r"[A-Za-z0-9._~-]+", slug)
    assert slug not in (".", "..")
    assert file_slug(slug) == slug


# --- per-post permalink: and url: ----------------------------------------------------------


def test_permalink_and_url_set_the_link_under_the_site_url(tmp_path: Path) -> None:
    found, errors = links(
        tmp_path,
        {
            "2016-01-24-jekyll-3-1-0-released.md": post(
                "date: 2016-01-24 13:16:12 -0800\npermalink: /news/:year/:month/:day/:title/\n"
            ),
            "hugo.md": post("date: 2024-05-01\nurl: /about/Hugo Page/\n"),
            "away.md": post("date: 2024-05-02\npermalink: https://elsewhere.example/x/\n"),
            "short.md": post(
                "date: 2024-05-03\npermalink: :short_year/:i_month/:slug:output_ext\n"
            ),
        },
        url="https://example.org/blog/",
    )
    assert errors == []
    assert found == {
        # like Jekyll's baseurl: a leading slash is under [site] url, sub-path included
        "2016-01-24-jekyll-3-1-0-released.md": (
            "https://example.org/blog/news/2016/01/24/jekyll-3-1-0-released/"
        ),
        "hugo.md": "https://example.org/blog/about/Hugo%20Page/",
        "away.md": "https://elsewhere.example/x/",
        "short.md": "https://example.org/blog/24/5/short.html",
    }


def test_a_permalink_is_the_default_id_and_id_still_wins(tmp_path: Path) -> None:
    text = config("posts/{slug}/")
    (tmp_path / "fieldfeed.toml").write_text(text)
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "a.md").write_text(post("date: 2024-01-01\npermalink: /a/\n"))
    (tmp_path / "content" / "b.md").write_text(
        post("date: 2024-01-02\npermalink: /b/\nid: tag:example.org,2024:b\n")
    )
    proc = fieldfeed("build", "--site", tmp_path)
    assert proc.returncode == 0, proc.stderr
    parsed = feedparser.parse((tmp_path / "public" / "atom.xml").read_bytes())
    assert {(e.link, e.id) for e in parsed.entries} == {
        ("https://example.org/a/", "https://example.org/a/"),
        ("https://example.org/b/", "tag:example.org,2024:b"),
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("permalink: /:path/:title/\n", "4: permalink: Jekyll's :path is not supported"),
        ("permalink: /a/../../b/\n", "4: permalink: must not contain '.' or '..' segments"),
        ("permalink: ftp://example.org/x\n", "4: permalink: expected a path or an http(s)://"),
        ("permalink: [a]\n", "4: permalink: expected a path or URL, got list"),
        ("permalink: /a/\nurl: /b/\n", "5: url: set permalink or url, not both"),
    ],
)
def test_a_bad_permalink_is_one_error_on_its_line(tmp_path: Path, extra: str, message: str) -> None:
    found, errors = links(tmp_path, {"x.md": post("date: 2024-01-01\n" + extra)})
    assert found == {}
    assert len(errors) == 1
    assert errors[0].startswith("content/x.md:" + message), errors


def test_check_names_both_files_of_a_duplicate_permalink(tmp_path: Path) -> None:
    (tmp_path / "fieldfeed.toml").write_text(config("posts/{slug}/"))
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "one.md").write_text(post("date: 2024-01-01\npermalink: /same/\n"))
    (tmp_path / "content" / "two.md").write_text(post("date: 2024-01-02\nurl: /same/\n"))
    proc = fieldfeed("check", "--site", tmp_path)
    assert proc.returncode != 0
    link = "'https://example.org/same/'"
    assert f"content/one.md:4: permalink: {link} is also used by content/two.md" in proc.stderr
    assert f"content/two.md:4: permalink: {link} is also used by content/one.md" in proc.stderr


def test_categories_follow_jekylls_default_permalink(tmp_path: Path) -> None:
    """Jekyll's default ``/:categories/:year/:month/:day/:title:output_ext``: every category,
    lowercased, joined by "/"; a post without categories loses the segment."""
    found, errors = links(
        tmp_path,
        {
            "2024-01-01-welcome-to-jekyll.md": post("categories: jekyll update\n"),
            "2024-01-02-two.md": post("categories: [Release Notes, News]\ncategory: news\n"),
            "2024-01-03-none.md": post(),
            "2024-01-04-own.md": post("categories: [a, b]\npermalink: /:categories/:title/\n"),
        },
        "{categories}/{year}/{month}/{day}/{slug}.html",
    )
    assert errors == []
    assert found == {
        "2024-01-01-welcome-to-jekyll.md": (
            "https://example.org/jekyll/update/2024/01/01/welcome-to-jekyll.html"
        ),
        "2024-01-02-two.md": "https://example.org/release%20notes/news/2024/01/02/two.html",
        "2024-01-03-none.md": "https://example.org/2024/01/03/none.html",
        "2024-01-04-own.md": "https://example.org/a/b/own/",
    }
