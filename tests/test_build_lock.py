"""Issue 7, item 10: builds killed mid-write leave nothing behind; builds never run at once.

Real subprocess builds of a temp site, killed with SIGKILL while their temp files exist.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_assets import NOW, make_site

from fieldfeed import pipeline
from fieldfeed.config import load_settings
from fieldfeed.errors import LockedError
from fieldfeed.lock import build_lock

#: Big assets make the write phase (every temp file written and fsynced before any rename)
#: long enough to kill a build inside it.
BLOBS = 24
BLOB_SIZE = 1 << 20
TEMP = re.compile(r"\..+\.tmp$|.*\.tmp$")


def make_big_site(root: Path) -> Path:
    make_site(root)
    files = root / "content" / "files"
    files.mkdir()
    for n in range(BLOBS):
        (files / f"blob-{n:02}.bin").write_bytes(os.urandom(BLOB_SIZE))
    for n in range(3, 9):
        (root / "content" / f"2026-01-0{n}-post-{n}.md").write_text(
            f"---\ntitle: Post {n}\ntags: [a, b{n}]\n---\n" + "Some words. " * 200,
            encoding="utf-8",
        )
    return root


def build_command(root: Path) -> list[str]:
    return [sys.executable, "-m", "fieldfeed", "build", "--site", str(root)]


def env() -> dict[str, str]:
    return {**os.environ, "FIELDFEED_NOW": NOW.isoformat()}


def temp_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and TEMP.match(p.name))


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def clean_build(root: Path, elsewhere: Path) -> dict[str, bytes]:
    """What a build of the same sources produces in a fresh copy of the site."""
    shutil.copytree(root, elsewhere, ignore=shutil.ignore_patterns("public", ".fieldfeed"))
    pipeline.build(load_settings(elsewhere), NOW)
    return tree(elsewhere / "public")


def kill_during_write(root: Path) -> bool:
    """Run a build and SIGKILL it once a temp file appears in the output folder; whether it
    was killed (False: it finished first)."""
    public = root / "public"
    proc = subprocess.Popen(
        build_command(root), env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            folder = public / "files"
            try:
                names = os.listdir(folder)
            except OSError:
                names = []
            if any(n.endswith(".tmp") for n in names):
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                return True
            time.sleep(0.0005)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_a_rebuild_after_kill_9_mid_write_leaves_no_temp_files(tmp_path: Path) -> None:
    root = make_big_site(tmp_path / "site")
    leftovers: list[Path] = []
    for _ in range(20):
        # Outputs gone and no stamp: every build has the whole write phase to do.
        shutil.rmtree(root / "public", ignore_errors=True)
        (root / ".fieldfeed" / "outputs.fingerprint").unlink(missing_ok=True)
        if kill_during_write(root):
            leftovers = temp_files(root / "public")
            if len(leftovers) >= 3:
                break
    assert len(leftovers) >= 3, "no build was caught mid-write"
    # A second killed build adds its own temp files beside the first one's.
    kill_during_write(root)

    proc = subprocess.run(
        build_command(root), env=env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert temp_files(root) == []
    assert tree(root / "public") == clean_build(root, tmp_path / "clean")


def test_two_builds_at_once_both_finish_with_whole_outputs(tmp_path: Path) -> None:
    root = make_big_site(tmp_path / "site")
    for _ in range(3):
        shutil.rmtree(root / "public", ignore_errors=True)
        shutil.rmtree(root / ".fieldfeed", ignore_errors=True)  # cold: both render and prune
        procs = [
            subprocess.Popen(
                build_command(root),
                env=env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        for proc in procs:
            _out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert "Traceback" not in err
    assert temp_files(root) == []
    assert tree(root / "public") == clean_build(root, tmp_path / "clean")


def wait_until_waiting(err_file: Path, proc: subprocess.Popen[bytes]) -> None:
    """Until the child says it is waiting for the lock (a fixed sleep raced a busy machine,
    where the child had not even reached the lock yet). Fails if it finishes instead."""
    deadline = time.monotonic() + 60
    while b"is building this site" not in err_file.read_bytes():
        assert proc.poll() is None, err_file.read_text(encoding="utf-8", errors="replace")
        assert time.monotonic() < deadline, "the child never reached the lock"
        time.sleep(0.05)


def test_a_second_build_waits_for_the_first_and_says_so(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    settings = load_settings(root)
    err_file = tmp_path / "stderr"
    with build_lock(settings.state_dir), err_file.open("wb") as err_out:
        proc = subprocess.Popen(build_command(root), env=env(), stderr=err_out)
        wait_until_waiting(err_file, proc)
        time.sleep(0.5)
        assert proc.poll() is None, "the second build did not wait"
        assert not (root / "public").exists()
    proc.wait(timeout=60)
    err = err_file.read_bytes()
    assert proc.returncode == 0, err
    assert b"another fieldfeed run (pid " in err and b"is building this site" in err
    assert (root / "public" / "rss.xml").is_file()


def test_a_build_lock_held_too_long_is_one_clear_error(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    state = load_settings(root).state_dir
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with build_lock(state):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(10)
        with pytest.raises(LockedError) as info, build_lock(state, wait=0.2):
            pass
    finally:
        release.set()
        thread.join(10)
    message = str(info.value)
    assert "\n" not in message
    assert f"is building this site ({state / 'build.lock'}); gave up after waiting 0.2s" in message


def test_only_our_own_temp_files_are_removed(tmp_path: Path) -> None:
    """Leftovers are recognised by name: mkstemp's pattern for a file the manifest names."""
    root = make_site(tmp_path / "site")
    settings = load_settings(root)
    pipeline.build(settings, NOW)
    public = root / "public"
    ours = [
        public / ".rss.xml.k2_x9ab0.tmp",
        public / "posts" / "images" / ".plot.svg.00000000.tmp",
    ]
    theirs = [
        public / ".readme.abcdefgh.tmp",
        public / "notes.tmp",
        public / ".rss.xml.tmp",
        public / "tags" / "a" / ".atom.xml.00000000.tmp",  # no tag "a": not ours
    ]
    for path in (*ours, *theirs):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    (settings.state_dir / "outputs.fingerprint.tmp").write_text("old fixed temp name")
    (settings.state_dir / ".outputs.fingerprint.abcd1234.tmp").write_text("left over")
    (settings.state_dir / "outputs.fingerprint").unlink()  # the next build writes
    pipeline.build(settings, NOW)
    assert [p for p in ours if p.exists()] == []
    assert [p for p in theirs if not p.exists()] == []
    assert not (settings.state_dir / "outputs.fingerprint.tmp").exists()
    assert not (settings.state_dir / ".outputs.fingerprint.abcd1234.tmp").exists()


def test_a_digest_reading_posts_waits_for_a_build(tmp_path: Path) -> None:
    """`digest preview` and `digest send` load the posts through the build cache, so they take
    the build lock too: a build running at that moment would prune the bodies they read."""
    root = make_site(tmp_path / "site")
    with (root / "fieldfeed.toml").open("a", encoding="utf-8") as f:
        f.write(
            '\n[digest]\nfrom = "T <news@t.example>"\n'
            'unsubscribe_url = "https://t.example/u/"\nfirst_window_days = 3650\n'
        )
    settings = load_settings(root)
    command = [sys.executable, "-m", "fieldfeed", "digest", "preview", "--site", str(root)]
    err_file = tmp_path / "stderr"
    with build_lock(settings.state_dir), err_file.open("wb") as err_out:
        proc = subprocess.Popen(command, env=env(), stderr=err_out)
        wait_until_waiting(err_file, proc)
        time.sleep(0.5)
        assert proc.poll() is None, "the digest read the posts while a build held the lock"
    proc.wait(timeout=60)
    err = err_file.read_bytes()
    assert proc.returncode == 0, err
    assert b"is building this site" in err
    assert list((root / "preview").glob("*.html"))
