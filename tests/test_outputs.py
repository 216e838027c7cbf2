"""fieldfeed.feeds.outputs: atomic writes, untouched unchanged files, tidy removal of leftovers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fieldfeed.feeds.build import FeedFile
from fieldfeed.feeds.outputs import OutputError, WriteReport, write_outputs


def test_first_write_then_nothing_changes(tmp_path: Path) -> None:
    out, manifest = tmp_path / "public", tmp_path / "state" / "outputs.json"
    files = [FeedFile("rss.xml", b"<rss/>"), FeedFile("tags/go/rss.xml", b"<go/>")]
    first = write_outputs(out, files, manifest)
    assert first == WriteReport(written=("rss.xml", "tags/go/rss.xml"), unchanged=(), removed=())
    assert (out / "tags/go/rss.xml").read_bytes() == b"<go/>"
    assert oct((out / "rss.xml").stat().st_mode & 0o777) == oct(0o644)
    os.utime(out / "rss.xml", (1_000_000, 1_000_000))
    second = write_outputs(out, files, manifest)
    assert second == WriteReport(written=(), unchanged=("rss.xml", "tags/go/rss.xml"), removed=())
    assert (out / "rss.xml").stat().st_mtime == 1_000_000  # not touched
    assert json.loads(manifest.read_text())["files"] == ["rss.xml", "tags/go/rss.xml"]


def test_changed_file_is_replaced_and_no_temp_files_remain(tmp_path: Path) -> None:
    out, manifest = tmp_path / "public", tmp_path / "m.json"
    write_outputs(out, [FeedFile("rss.xml", b"old")], manifest)
    report = write_outputs(out, [FeedFile("rss.xml", b"new")], manifest)
    assert report.written == ("rss.xml",)
    assert (out / "rss.xml").read_bytes() == b"new"
    assert sorted(p.name for p in out.iterdir()) == ["rss.xml"]


def test_disappeared_tag_is_removed_but_foreign_files_stay(tmp_path: Path) -> None:
    out, manifest = tmp_path / "public", tmp_path / "m.json"
    write_outputs(
        out,
        [
            FeedFile("rss.xml", b"a"),
            FeedFile("tags/go/rss.xml", b"b"),
            FeedFile("tags/db/rss.xml", b"c"),
        ],
        manifest,
    )
    (out / "index.html").write_text("mine")
    (out / "tags" / "db" / "notes.txt").write_text("also mine")
    report = write_outputs(out, [FeedFile("rss.xml", b"a")], manifest)
    assert report.removed == ("tags/db/rss.xml", "tags/go/rss.xml")
    assert not (out / "tags" / "go").exists()  # emptied folder removed
    assert (out / "tags" / "db" / "notes.txt").read_text() == "also mine"
    assert (out / "index.html").read_text() == "mine"
    assert json.loads(manifest.read_text())["files"] == ["rss.xml"]


def test_without_a_manifest_nothing_is_deleted(tmp_path: Path) -> None:
    out = tmp_path / "public"
    (out / "tags" / "old").mkdir(parents=True)
    (out / "tags" / "old" / "rss.xml").write_text("someone else's")
    report = write_outputs(out, [FeedFile("rss.xml", b"a")], tmp_path / "m.json")
    assert report.removed == ()
    assert (out / "tags" / "old" / "rss.xml").exists()


def test_manifest_for_another_output_dir_is_ignored(tmp_path: Path) -> None:
    manifest = tmp_path / "m.json"
    write_outputs(tmp_path / "a", [FeedFile("x.xml", b"1")], manifest)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.xml").write_text("not ours")
    report = write_outputs(tmp_path / "b", [FeedFile("y.xml", b"1")], manifest)
    assert report.removed == ()
    assert (tmp_path / "b" / "x.xml").exists()


def test_dry_run_touches_nothing(tmp_path: Path) -> None:
    out, manifest = tmp_path / "public", tmp_path / "m.json"
    write_outputs(out, [FeedFile("a.xml", b"1"), FeedFile("b.xml", b"2")], manifest)
    before = manifest.read_bytes()
    report = write_outputs(out, [FeedFile("a.xml", b"changed")], manifest, dry_run=True)
    assert report == WriteReport(written=("a.xml",), unchanged=(), removed=("b.xml",))
    assert (out / "a.xml").read_bytes() == b"1" and (out / "b.xml").exists()
    assert manifest.read_bytes() == before


def test_failure_while_staging_leaves_old_outputs(tmp_path: Path) -> None:
    out, manifest = tmp_path / "public", tmp_path / "m.json"
    write_outputs(out, [FeedFile("rss.xml", b"old"), FeedFile("atom.xml", b"old")], manifest)
    # A file standing where a folder must go makes the second staged write fail.
    (out / "tags").write_text("a file, not a folder")
    with pytest.raises(OutputError):
        write_outputs(
            out,
            [
                FeedFile("atom.xml", b"new"),
                FeedFile("rss.xml", b"new"),
                FeedFile("tags/go/rss.xml", b"x"),
            ],
            manifest,
        )
    assert (out / "rss.xml").read_bytes() == b"old"
    assert (out / "atom.xml").read_bytes() == b"old"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("bad", ["../escape.xml", "/abs.xml", "a/../../b.xml", "", "a\\b.xml"])
def test_paths_outside_the_output_dir_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(OutputError):
        write_outputs(tmp_path / "out", [FeedFile(bad, b"x")], tmp_path / "m.json")


def test_corrupt_manifest_is_treated_as_unknown(tmp_path: Path) -> None:
    manifest = tmp_path / "m.json"
    manifest.write_text("{not json")
    report = write_outputs(tmp_path / "out", [FeedFile("a.xml", b"1")], manifest)
    assert report.written == ("a.xml",)
    assert json.loads(manifest.read_text())["files"] == ["a.xml"]
