"""Issue 7, item 13: a build-cache body file swapped for another valid one is never published.

Real builds of a temp site; the swap is done on the real files in ``.fieldfeed/cache/html``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from test_assets import NOW, make_site

from fieldfeed import pipeline
from fieldfeed.config import load_settings
from fieldfeed.site.buildcache import BodyUnavailableError
from fieldfeed.site.content import load_content


def make_two_post_site(root: Path) -> Path:
    make_site(root)
    (root / "content" / "2026-01-03-second.md").write_text(
        "---\ntitle: Second\ntags: [b]\n---\nThe second post's own words.\n", encoding="utf-8"
    )
    return root


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def body_files(root: Path) -> list[Path]:
    return sorted((root / ".fieldfeed" / "cache" / "html").iterdir())


def swap(a: Path, b: Path) -> None:
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)


def test_swapped_body_files_are_rendered_again_not_published(tmp_path: Path) -> None:
    root = make_two_post_site(tmp_path / "site")
    pipeline.build(load_settings(root), NOW)
    first, second = body_files(root)
    swap(first, second)
    shutil.rmtree(root / "public")  # the outputs must be generated again from the cache
    report = pipeline.build(load_settings(root), NOW)
    assert report.content.rendered == 2  # both swapped entries were misses

    clean = tmp_path / "clean"
    shutil.copytree(root, clean, ignore=shutil.ignore_patterns("public", ".fieldfeed"))
    pipeline.build(load_settings(clean), NOW)
    assert tree(root / "public") == tree(clean / "public")
    # The cache holds the right bodies again: the next build uses them.
    assert pipeline.build(load_settings(root), NOW).content.rendered == 0


def test_a_body_relabelled_with_another_key_raises_on_read(tmp_path: Path) -> None:
    """A first line naming the right key over another post's body passes the cheap check
    when the index hands out the entry, and fails the full one when the body is read."""
    root = make_two_post_site(tmp_path / "site")
    settings = load_settings(root)
    pipeline.build(settings, NOW)
    first, second = body_files(root)
    header_first = first.read_bytes().partition(b"\n")[0]
    body_second = second.read_bytes().partition(b"\n")[2]
    first.write_bytes(header_first + b"\n" + body_second)
    content = load_content(settings, NOW)  # a fresh store: nothing read yet
    assert content.rendered == 0
    failed = []
    for post in content.posts:
        try:
            assert "second post's own words" not in post.html or post.title == "Second"
        except BodyUnavailableError as exc:
            failed.append(str(exc))
    assert len(failed) == 1 and "damaged" in failed[0]
