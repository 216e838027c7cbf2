"""pipeline.build: nothing changed -> nothing regenerated; anything changed -> rebuilt."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fieldfeed import pipeline
from fieldfeed.config import load_settings

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "content" / "img").mkdir(parents=True)
    (tmp_path / "fieldfeed.toml").write_text(
        '[site]\ntitle = "T"\nurl = "https://t.example/"\ntimezone = "UTC"\n', encoding="utf-8"
    )
    (tmp_path / "content" / "img" / "a.png").write_bytes(b"\x89PNG fake")
    for n in range(3):
        (tmp_path / "content" / f"2026-01-0{n + 1}-post-{n}.md").write_text(
            f"---\ntitle: Post {n}\ntags: [t{n % 2}]\n---\nBody {n} ![a](img/a.png)\n",
            encoding="utf-8",
        )
    return tmp_path


def build(root: Path) -> pipeline.BuildReport:
    return pipeline.build(load_settings(root), NOW)


def test_unchanged_site_is_skipped_and_reports_every_file(root: Path) -> None:
    first = build(root)
    assert not first.skipped
    second = build(root)
    assert second.skipped
    assert second.files == tuple(sorted(first.files))
    assert second.written.written == ()
    assert "0 written" in second.summary() and "2 tags" in second.summary()


def test_a_deleted_output_is_restored(root: Path) -> None:
    build(root)
    (root / "public" / "tags" / "t1" / "atom.xml").unlink()
    report = build(root)
    assert not report.skipped
    assert report.written.written == ("tags/t1/atom.xml",)


def test_an_edited_post_rebuilds(root: Path) -> None:
    build(root)
    post = root / "content" / "2026-01-02-post-1.md"
    post.write_text(post.read_text().replace("Body 1", "Body one"), encoding="utf-8")
    report = build(root)
    assert not report.skipped
    assert set(report.written.written) == {
        "atom.xml", "rss.xml", "feed.json",
        "tags/t1/atom.xml", "tags/t1/rss.xml", "tags/t1/feed.json",
    }  # fmt: skip


def test_a_settings_change_rebuilds(root: Path) -> None:
    build(root)
    config = root / "fieldfeed.toml"
    config.write_text(config.read_text() + "[feeds]\nmax_items = 1\n", encoding="utf-8")
    report = build(root)
    assert not report.skipped
    assert "rss.xml" in report.written.written


def test_a_touched_asset_is_rechecked(root: Path) -> None:
    build(root)
    asset = root / "content" / "img" / "a.png"
    asset.write_bytes(b"\x89PNG other")
    os.utime(asset, ns=(1, 1))
    report = build(root)
    assert not report.skipped
    assert report.written.written == ("img/a.png",)
    assert (root / "public" / "img" / "a.png").read_bytes() == b"\x89PNG other"
