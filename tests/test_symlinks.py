"""Issue 7, item 2: nothing that resolves outside the content folder is read or published.

Real symlinks on a temp site, real builds, the real CLI in a subprocess, and ``serve`` over
real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from test_assets import NOW, fieldfeed, make_site
from test_web import SECRET, Clock, Outbox, running_server

from fieldfeed import pipeline
from fieldfeed.config import load_settings
from fieldfeed.errors import ContentError
from fieldfeed.site.files import OutsideContentError, read_content_file
from fieldfeed.web.app import create_app
from fieldfeed.web.services import WebServices

SECRET_BYTES = b"0123456789abcdef0123456789abcdef-state-secret\n"
OUTSIDE_POST = b"---\ntitle: From outside\ndate: 2026-01-05\n---\nSmuggled in.\n"


def plant(root: Path, outside: Path) -> dict[str, str]:
    """Every kind of link out: the expected one-line error per link, by display path."""
    (root / ".fieldfeed").mkdir(exist_ok=True)
    (root / ".fieldfeed" / "secret").write_bytes(SECRET_BYTES)
    outside.mkdir()
    (outside / "post.md").write_bytes(OUTSIDE_POST)
    (outside / "folder").mkdir()
    (outside / "folder" / "notes.txt").write_bytes(b"outside the site")
    posts = root / "content" / "posts"
    (posts / "passwd.txt").symlink_to("/etc/passwd")
    (posts / "images" / "key.png").symlink_to("../../../.fieldfeed/secret")
    (posts / "2026-01-05-smuggled.md").symlink_to(outside / "post.md")
    (posts / "attachments").symlink_to(outside / "folder", target_is_directory=True)
    (posts / ".git").mkdir()
    (posts / ".git" / "config").write_bytes(b"[remote] url = https://token@git.example/")
    (posts / "git-config.txt").symlink_to(".git/config")
    return {
        "content/posts/2026-01-05-smuggled.md": (
            f"symlink points outside content/ ({outside}/post.md)"
        ),
        "content/posts/attachments": f"symlink points outside content/ ({outside}/folder)",
        "content/posts/git-config.txt": "symlink points to a hidden file in content/ "
        "(content/posts/.git/config)",
        "content/posts/images/key.png": "symlink points outside content/ (.fieldfeed/secret)",
        "content/posts/passwd.txt": "symlink points outside content/ (/etc/passwd)",
    }


def published_bytes(public: Path) -> bytes:
    if not public.exists():
        return b""
    return b"".join(p.read_bytes() for p in sorted(public.rglob("*")) if p.is_file())


def test_check_and_build_name_every_link_out_and_publish_none(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    expected = plant(root, tmp_path / "elsewhere")
    for command in ("check", "build"):
        proc = fieldfeed(command, "--site", root)
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.removeprefix("error: ").splitlines()
        assert lines == [f"{path}: {message}" for path, message in sorted(expected.items())] + [
            "5 problems found; nothing was published"
        ]
    assert not (root / "public").exists()
    with pytest.raises(ContentError) as info:
        pipeline.build(load_settings(root), NOW)
    assert {p.path for p in info.value.problems} == set(expected)


def test_a_link_out_is_never_published_even_beside_good_posts(tmp_path: Path) -> None:
    """A good build first, then the links arrive: the old outputs stay, none of the targets'
    bytes ever reach the output folder."""
    root = make_site(tmp_path / "site")
    pipeline.build(load_settings(root), NOW)
    before = published_bytes(root / "public")
    plant(root, tmp_path / "elsewhere")
    with pytest.raises(ContentError):
        pipeline.build(load_settings(root), NOW)
    after = published_bytes(root / "public")
    assert after == before
    for leaked in (SECRET_BYTES, b"root:", b"Smuggled", b"outside the site", b"token@"):
        assert leaked not in after


def test_links_that_stay_inside_the_content_folder_still_work(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    posts = root / "content" / "posts"
    (posts / "latest-plot.svg").symlink_to("images/plot.svg")
    (posts / "figures").symlink_to("images", target_is_directory=True)  # not walked, as before
    (root / "content" / "2026-01-03-again.md").symlink_to("posts/2026-01-02-plots.md")
    report = pipeline.build(load_settings(root), NOW)
    public = root / "public"
    assert (public / "posts" / "latest-plot.svg").read_bytes().startswith(b"<svg")
    assert not (public / "posts" / "figures").exists()
    assert {p.slug for p in report.content.posts} == {"plots", "again"}


def test_reading_refuses_a_path_that_resolves_outside(tmp_path: Path) -> None:
    """The chokepoint itself: a link out, and a folder swapped for a link after discovery."""
    content = tmp_path / "content"
    (content / "sub").mkdir(parents=True)
    (content / "sub" / "ok.md").write_bytes(b"inside")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "ok.md").write_bytes(b"outside")
    (content / "link.md").symlink_to(tmp_path / "out" / "ok.md")
    root = os.path.realpath(content)
    assert read_content_file(content / "sub" / "ok.md", root) == b"inside"
    with pytest.raises(OutsideContentError):
        read_content_file(content / "link.md", root)
    # A FIFO would block a plain open forever: refused as not a regular file.
    os.mkfifo(content / "pipe.md")
    with pytest.raises(OSError, match="not a regular file"):
        read_content_file(content / "pipe.md", root)


def test_serve_answers_404_for_links_out_over_real_http(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    pipeline.build(load_settings(root), NOW)
    plant(root, tmp_path / "elsewhere")
    with pytest.raises(ContentError):
        pipeline.build(load_settings(root), NOW)
    public = root / "public"
    # Links planted in the output folder itself (by hand, or by an older fieldfeed).
    (public / "passwd.txt").symlink_to("/etc/passwd")
    (public / "secret.txt").symlink_to(root / ".fieldfeed" / "secret")
    (public / "elsewhere").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    settings = load_settings(root)
    services = WebServices(settings=settings, secret=SECRET, clock=Clock(), send_mail=Outbox())
    app = create_app(settings, services)
    with running_server(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/posts/images/plot.svg").status_code == 200
        for path in (
            "/posts/passwd.txt",
            "/posts/images/key.png",
            "/posts/attachments/notes.txt",
            "/passwd.txt",
            "/secret.txt",
            "/elsewhere/post.md",
            "/elsewhere/folder/notes.txt",
        ):
            r = http.get(path)
            assert r.status_code == 404, path
            assert b"root:" not in r.content and SECRET_BYTES not in r.content
    services.close()
