"""Real validators and readers on real feeds: the varied test site and the demo site.

Quality bar (docs PRODUCT.md): zero W3C errors and warnings, feedparser bozo == 0 with every
field readers need, xmllint silent, newsboat shows every post with its own date.

xmllint and newsboat run when installed (``apt-get install -y libxml2-utils newsboat``); with
CI=true they must be installed. The W3C engine is never committed; to run it locally:

    # fetch github:w3c/feedvalidator (a bare git dir), then:
    mkdir -p /tmp/feedvalidator
    git --git-dir=/work/.mirror/w3c+feedvalidator/repo archive HEAD | tar -x -C /tmp/feedvalidator
    # (or: git clone --depth 1 https://github.com/w3c/feedvalidator /tmp/feedvalidator)
    .venv/bin/pip install html5lib rdflib
    export FEEDVALIDATOR_SRC=/tmp/feedvalidator/src
    .venv/bin/python -m pytest tests/test_feed_validators.py
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fieldfeed.feeds.build import build_feeds

sys.path.insert(0, str(Path(__file__).parent))
import feedcheck
import regen_golden

REPO = Path(__file__).resolve().parent.parent
SITES = {"varied": regen_golden.VARIED_SITE, "demo": REPO}
CI = os.environ.get("CI", "").lower() == "true"


def _require(available: bool, tool: str) -> None:
    if available:
        return
    if CI:
        pytest.fail(f"{tool} must be installed when CI=true")
    pytest.skip(f"{tool} not installed")


def _site_feeds(name: str) -> tuple[str, dict[str, bytes], int]:
    """(site url, {path: bytes}, number of published posts) for a site.

    The varied site is built at the golden clock; the demo site's sample posts are recent, so
    it is built at the real time (validity does not depend on the clock).
    """
    now = regen_golden.GOLDEN_NOW if name == "varied" else datetime.now(UTC)
    settings, posts = feedcheck.load_site_posts(SITES[name], now)
    if not posts:
        pytest.skip(f"{name} site has no published posts")
    files = {f.path: f.data for f in build_feeds(settings, posts)}
    return settings.site.url, files, min(len(posts), settings.feeds.max_items)


@pytest.fixture(scope="module", params=sorted(SITES))
def site(request: pytest.FixtureRequest) -> tuple[str, dict[str, bytes], int]:
    return _site_feeds(request.param)


def _xml(files: dict[str, bytes]) -> dict[str, bytes]:
    return {p: d for p, d in files.items() if p.endswith((".xml",))}


def test_w3c_validator_zero_errors_and_warnings(site: tuple[str, dict[str, bytes], int]) -> None:
    if not feedcheck.w3c_available():
        pytest.skip("set FEEDVALIDATOR_SRC to the w3c/feedvalidator src dir (see module doc)")
    url, files, _ = site
    problems = {p: feedcheck.w3c_problems(d, url + p) for p, d in _xml(files).items()}
    assert {p: v for p, v in problems.items() if v} == {}


def test_feedparser_reads_every_entry(site: tuple[str, dict[str, bytes], int]) -> None:
    _, files, count = site
    for path in ("rss.xml", "atom.xml"):
        assert feedcheck.feedparser_problems(files[path], expected_entries=count) == [], path
    for path, data in _xml(files).items():
        assert feedcheck.feedparser_problems(data) == [], path


def test_json_feeds_follow_json_feed_1_1(site: tuple[str, dict[str, bytes], int]) -> None:
    _, files, count = site
    assert len(json.loads(files["feed.json"])["items"]) == count
    for path, data in files.items():
        if path.endswith(".json"):
            assert feedcheck.json_feed_problems(data) == [], path


def test_xmllint_is_silent(site: tuple[str, dict[str, bytes], int]) -> None:
    _require(feedcheck.xmllint_available(), "xmllint (libxml2-utils)")
    _, files, _ = site
    for path, data in files.items():
        if path.endswith((".xml", ".xsl")):
            assert feedcheck.xmllint_problems(data) == [], path


def test_newsboat_shows_every_post_with_its_date(
    site: tuple[str, dict[str, bytes], int], tmp_path: Path
) -> None:
    _require(feedcheck.newsboat_available(), "newsboat")
    import feedparser

    _, files, count = site
    paths = []
    for name in ("rss.xml", "atom.xml"):
        p = tmp_path / name
        p.write_bytes(files[name])
        paths.append(p)
    seen = feedcheck.newsboat_items(paths)
    for p in paths:
        expected = sorted(
            (e.title, int(_epoch(e.published_parsed)))
            for e in feedparser.parse(p.read_bytes()).entries
        )
        got = sorted(seen[p.resolve().as_uri()])
        assert len(got) == count, p.name
        assert got == expected, p.name


def _epoch(parsed: object) -> float:
    import calendar

    return calendar.timegm(parsed)  # type: ignore[arg-type]
