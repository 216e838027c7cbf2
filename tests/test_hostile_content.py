"""Hostile posts and config (issue 7, items 6 and 7): each fails alone, fast, naming its file.

Every case is a real ``fieldfeed build`` of a temp site, run as a subprocess the way a user
(or CI on a pull request) runs it, under an address-space limit so a regression fails here
instead of eating the machine, and under pytest-timeout so a hang fails too.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

NOW = "2026-11-24T12:00:00+00:00"
CONFIG = '[site]\ntitle = "T"\nurl = "https://blog.example.org/"\ntimezone = "UTC"\n'
#: Address space for the CLI: a normal build of a small site needs ~300 MiB.
MEMORY_LIMIT = 1024 * 1024 * 1024
HEAD = "---\ntitle: Hostile\ndate: 2026-01-01\n---\n"


def make_site(root: Path, posts: dict[str, str], config: str = CONFIG) -> Path:
    (root / "content").mkdir(parents=True)
    (root / "fieldfeed.toml").write_text(config, encoding="utf-8")
    for name, text in posts.items():
        (root / "content" / name).write_text(text, encoding="utf-8")
    return root


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def build(site: Path, *extra: str) -> tuple[int, str, float]:
    """``fieldfeed build`` in a subprocess: exit code, stderr, seconds."""
    env = {**os.environ, "FIELDFEED_NOW": NOW, "COLUMNS": "200"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "fieldfeed", "build", "--site", str(site), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
        preexec_fn=_limit_memory,
        check=False,
    )
    return done.returncode, done.stderr, time.monotonic() - started


def assert_one_error(site: Path, code: int, err: str, expected: str) -> None:
    """Exit 1, exactly one problem line (plus the summary), no traceback, nothing published."""
    assert code == 1, err
    assert "Traceback" not in err and "Error:" not in err.replace("error:", ""), err
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert expected in lines[0], err
    assert lines[1].endswith("nothing was published"), err
    assert not (site / "public").exists()


def _alias_bomb(key: str) -> str:
    """Nine levels of nine aliases under ``key``: 9**9 (387 million) strings expanded."""
    rows = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    rows += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    nested = "\n".join("  " + r for r in rows)
    return f"---\ntitle: Bomb\ndate: 2026-01-01\n{key}:\n{nested}\n---\nHello.\n"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("key", ["draft", "tags", "title", "extra"])
def test_yaml_alias_bomb_fails_fast_with_one_line(tmp_path: Path, key: str) -> None:
    site = make_site(tmp_path / "site", {"bomb.md": _alias_bomb(key), "ok.md": HEAD + "Fine.\n"})
    code, err, seconds = build(site)
    assert_one_error(
        site, code, err, f"content/bomb.md:4: {key}: front matter expands to more than 10,000"
    )
    assert seconds < 30


@pytest.mark.timeout(60)
def test_yaml_recursive_alias_is_refused(tmp_path: Path) -> None:
    post = "---\ntitle: Loop\ndate: 2026-01-01\ndraft: &loop [*loop]\n---\nHi.\n"
    site = make_site(tmp_path / "site", {"loop.md": post})
    code, err, _ = build(site)
    assert_one_error(site, code, err, "content/loop.md:4: a YAML alias refers to a value")


def test_ordinary_aliases_still_work(tmp_path: Path) -> None:
    post = (
        "---\ntitle: Shared\ndate: 2026-01-01\nx-common: &common [Python, Go]\n"
        "tags: *common\n---\nHi.\n"
    )
    site = make_site(tmp_path / "site", {"shared.md": post})
    code, err, _ = build(site)
    assert code == 0, err
    assert (site / "public" / "tags" / "python" / "rss.xml").is_file()
    assert (site / "public" / "tags" / "go" / "rss.xml").is_file()


DEEP_TOML = "[" * 10_000 + "]" * 10_000


@pytest.mark.timeout(60)
def test_deep_toml_front_matter_names_the_post(tmp_path: Path) -> None:
    post = f"+++\ntitle = 'Deep'\ndate = 2026-01-01\na = {DEEP_TOML}\n+++\nHi.\n"
    site = make_site(tmp_path / "site", {"deep.md": post, "ok.md": HEAD + "Fine.\n"})
    code, err, _ = build(site)
    assert_one_error(site, code, err, "content/deep.md:4: invalid TOML: nested more than 50")


@pytest.mark.timeout(60)
def test_deep_toml_in_the_config_names_the_file(tmp_path: Path) -> None:
    config = (
        CONFIG + '[feeds]\n# a comment with [[[ brackets\nx = "[[[["\n' + f"deep = {DEEP_TOML}\n"
    )
    site = make_site(tmp_path / "site", {"ok.md": HEAD + "Fine.\n"}, config=config)
    code, err, _ = build(site)
    assert code == 1, err
    assert err.strip().splitlines() == [
        f"error: {site / 'fieldfeed.toml'}:8: invalid TOML: nested more than 50 levels deep"
    ]
    assert not (site / "public").exists()


def _nested_list(levels: int) -> str:
    return "".join("    " * i + "- item\n" for i in range(levels))


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("body", "line", "expected"),
    [
        ("> " * 10_000 + "deep\n", 5, "lists or block quotes nested more than 50 levels deep"),
        (_nested_list(400), 56, "lists or block quotes nested more than 50 levels deep"),
        ("<a " * 10_000 + "\n", 5, "too many HTML tags left open"),
        ("*" * 3000 + "x" + "*" * 3000 + "\n", 5, "too deeply nested to render"),
        ("x\n" * (2 * 1024 * 1024), 0, "too large: 4.0 MiB (a post may be at most 2 MiB)"),
    ],
    ids=["quotes", "lists", "unclosed-tags", "emphasis", "size"],
)
def test_pathological_markdown_fails_alone_and_fast(
    tmp_path: Path, body: str, line: int, expected: str
) -> None:
    site = make_site(tmp_path / "site", {"bad.md": HEAD + body, "ok.md": HEAD + "Fine.\n"})
    code, err, seconds = build(site)
    where = f"content/bad.md:{line}: " if line else "content/bad.md: "
    assert_one_error(site, code, err, where + expected)
    assert seconds < 30


@pytest.mark.timeout(60)
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_unclosed_brackets_render_in_linear_time(tmp_path: Path, jobs: str) -> None:
    """20,000 unclosed "[" took 79 s (python-markdown's link scan is quadratic); they are
    ordinary text. With --jobs 2 and 60 posts the build renders in the process pool."""
    posts = {f"p{i:02}.md": HEAD.replace("Hostile", f"Post {i}") + "Hi.\n" for i in range(60)}
    newest = HEAD.replace("2026-01-01", "2026-02-01")
    posts["brackets.md"] = newest + "[" * 20_000 + "\n\nA [real link](https://example.org/).\n"
    site = make_site(tmp_path / "site", posts)
    code, err, seconds = build(site, "--jobs", jobs)
    assert code == 0, err
    assert seconds < 30
    feed = (site / "public" / "feed.json").read_text(encoding="utf-8")
    assert '<a href=\\"https://example.org/\\">real link</a>' in feed


@pytest.mark.timeout(60)
def test_too_many_tags_and_a_huge_title_name_the_post(tmp_path: Path) -> None:
    tags = ", ".join(f"tag{i}" for i in range(101))
    post = f"---\ntitle: {'t' * 1001}\ndate: 2026-01-01\ntags: [{tags}]\n---\nHi.\n"
    site = make_site(tmp_path / "site", {"many.md": post})
    code, err, _ = build(site)
    assert code == 1, err
    assert err.strip().splitlines() == [
        "error: content/many.md:2: title: too long: 1,001 characters (at most 1,000)",
        "content/many.md:4: tags: 101 tags; a post may have at most 100",
        "2 problems found; nothing was published",
    ]


@pytest.mark.timeout(60)
def test_a_post_with_the_most_tags_builds_every_tag_feed(tmp_path: Path) -> None:
    """100 tags: 101 feed sets, each entry carrying all 100 categories. feedgen rebuilt its
    category list on every ``category()`` call, so this was cubic in the tag count."""
    import feedparser

    tags = ", ".join(f"tag{i}" for i in range(100))
    post = f"---\ntitle: Tagged\ndate: 2026-01-01\ntags: [{tags}]\n---\nHi.\n"
    site = make_site(tmp_path / "site", {"tagged.md": post})
    code, err, _ = build(site)
    assert code == 0, err
    assert len(list((site / "public" / "tags").iterdir())) == 100
    for name in ("rss.xml", "atom.xml"):
        parsed = feedparser.parse((site / "public" / "tags" / "tag57" / name).read_bytes())
        assert parsed.bozo == 0
        terms = [t["term"] for t in parsed.entries[0].tags]
        assert terms == [f"tag{i}" for i in range(100)]


SLOW_CONFIG = CONFIG + "[content]\nrender_timeout = 1\n"
#: Within every limit, yet slow: python-markdown re-scans a paragraph after each inline
#: match, so 40,000 links in one paragraph take several seconds (a 2 MiB one, minutes).
SLOW_BODY = "[a](b) " * 40_000 + "\n"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_post_past_the_render_timeout_fails_naming_its_file(tmp_path: Path, jobs: str) -> None:
    posts = {f"p{i:02}.md": HEAD.replace("Hostile", f"Post {i}") + "Hi.\n" for i in range(60)}
    posts["slow.md"] = HEAD + SLOW_BODY
    site = make_site(tmp_path / "site", posts, config=SLOW_CONFIG)
    code, err, seconds = build(site, "--jobs", jobs)
    assert_one_error(site, code, err, "content/slow.md: took more than 1 s to render")
    assert seconds < 20


@pytest.mark.timeout(60)
def test_the_render_timeout_holds_off_the_main_thread(tmp_path: Path) -> None:
    """``fieldfeed run`` builds on a scheduler thread, where no signal arrives: even one
    miss is rendered in a pool worker so the bound still holds."""
    import threading
    from datetime import datetime

    from fieldfeed.config import load_settings
    from fieldfeed.site.content import check_content

    site = make_site(tmp_path / "site", {"slow.md": HEAD + SLOW_BODY}, config=SLOW_CONFIG)
    settings = load_settings(site)
    found: list[str] = []
    worker = threading.Thread(
        target=lambda: found.extend(
            str(p) for p in check_content(settings, datetime.fromisoformat(NOW))[1]
        )
    )
    started = time.monotonic()
    worker.start()
    worker.join(50)
    assert not worker.is_alive()
    assert time.monotonic() - started < 20
    assert len(found) == 1
    assert found[0].startswith("content/slow.md: took more than 1 s to render"), found
