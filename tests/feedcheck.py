"""Run real feed validators and readers over feed bytes; used by the feed tests.

Each ``*_problems`` function returns a list of human-readable problems (empty means clean), so a
test can ``assert problems == []`` and show everything at once when it fails.

- W3C Feed Validation Service engine: needs ``FEEDVALIDATOR_SRC`` (its ``src`` dir; never
  committed, see tests/test_feed_validators.py for how to fetch it) and html5lib + rdflib.
- feedparser: always available (a dev dependency).
- xmllint (libxml2-utils) and newsboat: Debian packages, used when installed.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from fieldfeed.config import Settings
from fieldfeed.model import Post

FEEDVALIDATOR_ENV = "FEEDVALIDATOR_SRC"


def w3c_available() -> bool:
    src = os.environ.get(FEEDVALIDATOR_ENV, "")
    return bool(src) and (Path(src) / "feedvalidator" / "__init__.py").is_file()


def w3c_events(data: bytes, url: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Errors and warnings ("AA" level, as the online service shows) for one feed.

    ``url`` is where the feed will be served; the validator compares it with rel="self".
    Returns (level, event class name, params) tuples.
    """
    src = os.environ[FEEDVALIDATOR_ENV]
    if src not in sys.path:
        sys.path.insert(0, src)
    import feedvalidator  # type: ignore[import-not-found]
    from feedvalidator import compatibility  # type: ignore[import-not-found]
    from feedvalidator.logging import Error  # type: ignore[import-not-found]

    try:
        events = feedvalidator.validateStream(io.BytesIO(data), firstOccurrenceOnly=1, base=url)[
            "loggedEvents"
        ]
    except feedvalidator.logging.ValidationFailure as failure:
        events = [failure.event]
    out = []
    for event in compatibility.AA(events):
        level = "error" if isinstance(event, Error) else "warning"
        out.append((level, type(event).__name__, dict(event.params)))
    return out


def w3c_problems(data: bytes, url: str) -> list[str]:
    return [f"{level}: {name} {params}" for level, name, params in w3c_events(data, url)]


def feedparser_problems(data: bytes, expected_entries: int | None = None) -> list[str]:
    """feedparser must read the feed without ``bozo`` and find every field readers need."""
    import feedparser

    parsed = feedparser.parse(data)
    problems = []
    if parsed.bozo:
        problems.append(f"bozo: {parsed.bozo_exception!r}")
    if expected_entries is not None and len(parsed.entries) != expected_entries:
        problems.append(f"expected {expected_entries} entries, got {len(parsed.entries)}")
    for n, entry in enumerate(parsed.entries):
        for key in ("id", "link", "published_parsed", "summary", "content", "title"):
            if not entry.get(key):
                problems.append(f"entry {n} ({entry.get('title')!r}) lacks {key}")
        if entry.get("content") and not entry.content[0].get("value"):
            problems.append(f"entry {n} has empty content")
    return problems


def xmllint_available() -> bool:
    return shutil.which("xmllint") is not None


def xmllint_problems(data: bytes) -> list[str]:
    """``xmllint --noout`` must say nothing at all."""
    proc = subprocess.run(
        ["xmllint", "--noout", "-"], input=data, capture_output=True, timeout=60, check=False
    )
    out = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip()
    return [out] if out or proc.returncode else []


def newsboat_available() -> bool:
    return shutil.which("newsboat") is not None


def newsboat_items(feed_paths: list[Path]) -> dict[str, list[tuple[str, int]]]:
    """Load feeds into a real newsboat cache headlessly; (title, pubDate epoch) per feed URL.

    newsboat reads ``file://`` URLs, so nothing touches the network. Its cache is SQLite and
    ``rss_item.pubDate`` is what it shows as the article date (the fetch time when it could not
    parse ours), so tests compare it with the post's own date. One cache per feed: the cache
    keys items by GUID alone, so the RSS and Atom copies of a post would hide each other.
    """
    return {p.resolve().as_uri(): _newsboat_one(p) for p in feed_paths}


def _newsboat_one(feed_path: Path) -> list[tuple[str, int]]:
    url = feed_path.resolve().as_uri()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        urls = root / "urls"
        urls.write_text(url + "\n")
        config = root / "config"
        config.write_text("reload-threads 1\n")
        cache = root / "cache.db"
        env = dict(os.environ, HOME=str(root), XDG_CONFIG_HOME=str(root), XDG_DATA_HOME=str(root))
        proc = subprocess.run(
            ["newsboat", "-u", str(urls), "-c", str(cache), "-C", str(config), "-x", "reload"],
            capture_output=True,
            timeout=120,
            env=env,
            check=False,
        )
        if proc.returncode:
            raise RuntimeError(f"newsboat failed: {proc.stderr.decode('utf-8', 'replace')}")
        with sqlite3.connect(cache) as db:
            rows = db.execute(
                "SELECT title, pubDate FROM rss_item WHERE feedurl = ? ORDER BY pubDate DESC",
                (url,),
            ).fetchall()
        return [(str(title), int(pub)) for title, pub in rows]


def json_feed_problems(data: bytes) -> list[str]:
    """Check a JSON Feed 1.1 document against the spec's required fields and types."""
    problems: list[str] = []
    if not data.endswith(b"\n"):
        problems.append("no trailing newline")
    try:
        feed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [f"not UTF-8 JSON: {exc}"]
    if not isinstance(feed, dict):
        return ["top level is not an object"]
    if feed.get("version") != "https://jsonfeed.org/version/1.1":
        problems.append(f"version is {feed.get('version')!r}")
    if not isinstance(feed.get("title"), str) or not feed["title"]:
        problems.append("title missing or not a string")
    for key in ("home_page_url", "feed_url"):
        if key in feed and not _is_abs_url(feed[key]):
            problems.append(f"{key} is not an absolute URL: {feed[key]!r}")
    for key in ("description", "language"):
        if key in feed and not isinstance(feed[key], str):
            problems.append(f"{key} is not a string")
    if "author" in feed:
        problems.append("'author' is deprecated in 1.1: use 'authors'")
    problems += _authors_problems(feed.get("authors"), "feed")
    items = feed.get("items")
    if not isinstance(items, list):
        return [*problems, "items missing or not an array"]
    ids: set[str] = set()
    for n, item in enumerate(items):
        where = f"item {n}"
        if not isinstance(item, dict):
            problems.append(f"{where} is not an object")
            continue
        if not isinstance(item.get("id"), str) or not item["id"]:
            problems.append(f"{where}: id missing or not a string")
        elif item["id"] in ids:
            problems.append(f"{where}: duplicate id {item['id']!r}")
        else:
            ids.add(item["id"])
        if not (
            isinstance(item.get("content_html"), str) or isinstance(item.get("content_text"), str)
        ):
            problems.append(f"{where}: needs content_html or content_text")
        for key in ("url", "external_url", "image", "banner_image"):
            if key in item and not _is_abs_url(item[key]):
                problems.append(f"{where}: {key} is not an absolute URL")
        for key in ("title", "summary", "content_html", "content_text", "language"):
            if key in item and not isinstance(item[key], str):
                problems.append(f"{where}: {key} is not a string")
        for key in ("date_published", "date_modified"):
            if key in item and not _is_rfc3339(item[key]):
                problems.append(f"{where}: {key} is not RFC 3339: {item[key]!r}")
        if "tags" in item and not (
            isinstance(item["tags"], list) and all(isinstance(t, str) for t in item["tags"])
        ):
            problems.append(f"{where}: tags must be an array of strings")
        if "authors" in item:
            problems += _authors_problems(item["authors"], where)
    return problems


def _authors_problems(authors: object, where: str) -> list[str]:
    if authors is None:
        return []
    if not isinstance(authors, list) or not authors:
        return [f"{where}: authors must be a non-empty array"]
    problems = []
    for a in authors:
        if not isinstance(a, dict) or not any(k in a for k in ("name", "url", "avatar")):
            problems.append(f"{where}: an author needs name, url or avatar")
    return problems


def _is_abs_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def _is_rfc3339(value: object) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


def rfc822_epoch(value: str) -> int:
    return int(parsedate_to_datetime(value).timestamp())


# --- loading a test site -------------------------------------------------------------------


def load_site_posts(site: Path, now: datetime) -> tuple[Settings, tuple[Post, ...]]:
    """Settings and published posts (newest first) of a test site, through the real loader."""
    from fieldfeed.config import load_settings
    from fieldfeed.site.content import load_content

    settings = load_settings(site)
    return settings, load_content(settings, now, jobs=1, use_cache=False).posts
