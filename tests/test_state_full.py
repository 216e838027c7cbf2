"""Issue 7, item 16: a full (or unusable) state folder is a one-line error, never a traceback.

The full disk is real: a 64 KiB tmpfs mounted on the site's ``.fieldfeed`` (we run as root
here; where mounting is not allowed those tests skip, and the unusable-folder tests below
still run anywhere).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_assets import fieldfeed, make_site

from fieldfeed.errors import StateError
from fieldfeed.lock import build_lock, site_lock


@contextlib.contextmanager
def tiny_tmpfs(where: Path) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path) -> None:
    """Write until the filesystem says ENOSPC."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_a_full_disk_under_the_state_folder_is_one_line(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    with tiny_tmpfs(root / ".fieldfeed") as state:
        fill(state)
        for command, lock in (
            (["build"], "build.lock"),
            (["publish"], "build.lock"),
            (["digest", "send"], "run.lock"),  # was an OSError traceback
            (["run"], "runner/run.lock"),
        ):
            line = one_line_error(fieldfeed(*command, "--site", root))
            assert line == (
                f"error: cannot lock the site's state folder: {state / lock}: "
                "No space left on device"
            )
        assert not (root / "public").exists()
        with pytest.raises(StateError, match="No space left on device"), site_lock(state):
            pass


def test_a_disk_that_fills_up_after_a_build_is_one_line(tmp_path: Path) -> None:
    """The state folder filled up between two builds (the lock file exists already)."""
    root = make_site(tmp_path / "site")
    with tiny_tmpfs(root / ".fieldfeed") as state:
        assert fieldfeed("build", "--site", root).returncode == 0
        fill(state)
        post = root / "content" / "posts" / "2026-01-02-plots.md"
        post.write_text(post.read_text() + "\nOne more line.\n")
        line = one_line_error(fieldfeed("build", "--site", root))
        # Whichever write meets the full disk first (here the pid in the lock file, emptied
        # when the last run ended), the error is one line naming the path under the state
        # folder and the OS error.
        assert f"{state}/" in line and line.endswith("No space left on device")


def test_a_file_where_the_state_folder_should_be_is_one_line(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    (root / ".fieldfeed").write_text("not a folder")
    line = one_line_error(fieldfeed("build", "--site", root))
    assert line.startswith(f"error: cannot lock the site's state folder: {root / '.fieldfeed'}")
    with pytest.raises(StateError), build_lock(root / ".fieldfeed"):
        pass
    # `check` writes nothing that needs the lock: it still checks.
    proc = fieldfeed("check", "--site", root)
    assert proc.returncode == 0, proc.stderr
