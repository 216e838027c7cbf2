"""Tags that differ only by symbols get feeds of their own (issue 7, item 15).

"C", "C++" and "C#" all slugified to "c", so their posts silently merged into one feed.
A real build of a temp site through the CLI, read back with feedparser; ``check`` warns
about spellings that still share a slug without being the same tag.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import feedparser

NOW = "2026-11-24T12:00:00+00:00"
CONFIG = '[site]\ntitle = "T"\nurl = "https://blog.example.org/"\ntimezone = "UTC"\n'


def cli(site: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fieldfeed", command, "--site", str(site)],
        capture_output=True,
        text=True,
        env={**os.environ, "FIELDFEED_NOW": NOW, "COLUMNS": "200"},
        timeout=120,
        check=False,
    )


def post(title: str, day: int, tags: str) -> str:
    return f"---\ntitle: {title}\ndate: 2026-01-{day:02}\ntags: {tags}\n---\nAbout {title}.\n"


def make_site(root: Path, posts: dict[str, str]) -> Path:
    (root / "content").mkdir(parents=True)
    (root / "fieldfeed.toml").write_text(CONFIG, encoding="utf-8")
    for name, text in posts.items():
        (root / "content" / name).write_text(text, encoding="utf-8")
    return root


def titles(feed: Path) -> list[str]:
    parsed = feedparser.parse(feed.read_bytes())
    assert parsed.bozo == 0, parsed.bozo_exception
    return sorted(e.title for e in parsed.entries)


def test_c_cpp_and_csharp_get_three_feeds(tmp_path: Path) -> None:
    site = make_site(
        tmp_path / "site",
        {
            "c.md": post("Pointers", 1, "[C]"),
            "cpp.md": post("Templates", 2, '["C++", Systems]'),
            "cs.md": post("LINQ", 3, '"C#, .NET"'),
            "both.md": post("FFI", 4, '[C, "c++"]'),
            "sys.md": post("Kernels", 5, "[systems]"),
        },
    )
    done = cli(site, "build")
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stdout + done.stderr
    tags = site / "public" / "tags"
    assert sorted(p.name for p in tags.iterdir()) == [
        "c", "c-plus-plus", "c-sharp", "net", "systems",
    ]  # fmt: skip
    for name in ("rss.xml", "atom.xml"):
        assert titles(tags / "c" / name) == ["FFI", "Pointers"]
        assert titles(tags / "c-plus-plus" / name) == ["FFI", "Templates"]
        assert titles(tags / "c-sharp" / name) == ["LINQ"]
        assert titles(tags / "systems" / name) == ["Kernels", "Templates"]  # one tag, two spellings
    cpp = feedparser.parse((tags / "c-plus-plus" / "atom.xml").read_bytes())
    assert cpp.feed.title == "T — C++"


def test_check_warns_about_spellings_that_still_share_a_feed(tmp_path: Path) -> None:
    site = make_site(
        tmp_path / "site",
        {
            "a.md": post("One", 1, '["C#", "Distributed Systems"]'),
            "b.md": post("Two", 2, '["C-Sharp", "distributed-systems"]'),
        },
    )
    done = cli(site, "check")
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    expected = (
        "content/b.md:4: warning: tags: 'C-Sharp' and 'C#' (content/a.md) share the feed "
        "tags/c-sharp/ and are merged into one tag"
    )
    assert expected in output, output
    assert output.count("warning") == 1, output  # the two spellings of one tag are fine
