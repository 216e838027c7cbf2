"""Files beside a post (images, attachments) are published and relative references reach them."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from fieldfeed import pipeline
from fieldfeed.config import load_settings

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def fieldfeed(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, with the clock pinned to NOW."""
    return subprocess.run(
        [sys.executable, "-m", "fieldfeed", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "FIELDFEED_NOW": NOW.isoformat()},
        timeout=60,
        check=False,
    )


def make_site(root: Path) -> Path:
    (root / "content" / "posts" / "images").mkdir(parents=True)
    (root / "fieldfeed.toml").write_text(
        '[site]\ntitle = "T"\nurl = "https://t.example/blog/"\ntimezone = "UTC"\n', encoding="utf-8"
    )
    (root / "content" / "posts" / "images" / "plot.svg").write_bytes(
        b"<svg xmlns='http://www.w3.org/2000/svg'/>"
    )
    (root / "content" / "posts" / ".plot.svg.swp").write_bytes(b"editor junk")
    (root / "content" / "posts" / "2026-01-02-plots.md").write_text(
        "---\ntitle: Plots\nimage: images/plot.svg\n---\n"
        '![a plot](images/plot.svg "Plot") and [the other post](../other/) '
        "and [a missing file](images/none.png).\n",
        encoding="utf-8",
    )
    return root


def test_assets_are_published_and_referenced(tmp_path: Path) -> None:
    root = make_site(tmp_path)
    report = pipeline.build(load_settings(root), NOW)
    public = root / "public"
    assert (public / "posts" / "images" / "plot.svg").read_bytes().startswith(b"<svg")
    assert not (public / "posts" / ".plot.svg.swp").exists()
    post = report.content.posts[0]
    # The image names a file beside the post: it resolves to where that file is published.
    assert 'src="https://t.example/blog/posts/images/plot.svg"' in post.html
    assert post.image == "https://t.example/blog/posts/images/plot.svg"
    # Anything else relative still resolves against the permalink.
    assert 'href="https://t.example/blog/posts/other/"' in post.html
    assert 'href="https://t.example/blog/posts/plots/images/none.png"' in post.html


def test_a_removed_asset_is_unpublished(tmp_path: Path) -> None:
    root = make_site(tmp_path)
    pipeline.build(load_settings(root), NOW)
    (root / "content" / "posts" / "images" / "plot.svg").unlink()
    report = pipeline.build(load_settings(root), NOW)
    assert "posts/images/plot.svg" in report.written.removed
    assert not (root / "public" / "posts" / "images" / "plot.svg").exists()
