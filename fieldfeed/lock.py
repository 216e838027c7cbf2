"""Per-site locks: an advisory ``flock`` on a file in the site's state folder.

Two locks, on two files, so that building the feeds never waits for a digest being sent:

- :func:`site_lock` (``run.lock``): one sender per site (``publish``'s digest step, ``digest
  send``, ``run``); it fails at once (or after ``wait``) with LockedError.
- :func:`build_lock` (``build.lock``): one build per site. A build reads and prunes the build
  cache and writes the output folder, the manifest and the fingerprint stamp; two at once
  would prune each other's cache bodies and delete each other's temp files.

The kernel drops a lock when the process dies (kill -9 included), so a crash never leaves a
stale lock behind. This guards one machine; several machines sharing one PostgreSQL database
would need a database lock instead (docs/delivery.md).

A state folder that cannot be created or written (a full disk, a file where the folder should
be, a read-only mount) is a StateError naming the path and the OS error: one line, exit 1.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fieldfeed.errors import LockedError, StateError

__all__ = ["BUILD_LOCK_NAME", "BUILD_WAIT", "LOCK_NAME", "build_lock", "site_lock"]

LOCK_NAME = "run.lock"
BUILD_LOCK_NAME = "build.lock"
#: How long a build waits for another build of the same site. Waiting (not failing at once)
#: because two builds at once are routine (the runner's interval build and a hand-run
#: ``publish``, two CI jobs) and the second one's work is still wanted; a no-change build
#: after the first takes well under a second. Ten minutes covers a cold build of a very
#: large archive; a holder that takes longer is more likely hung, and we say so.
BUILD_WAIT = 600.0

log = logging.getLogger(__name__)


@contextmanager
def site_lock(state_dir: Path, *, wait: float = 0.0, poll: float = 0.05) -> Iterator[Path]:
    """Hold the site's send lock for the block. Waits up to ``wait`` seconds, then
    LockedError; StateError when the lock file cannot be created or written."""
    with _locked(state_dir / LOCK_NAME, "is sending for this site", wait, poll) as path:
        yield path


@contextmanager
def build_lock(state_dir: Path, *, wait: float = BUILD_WAIT, poll: float = 0.05) -> Iterator[Path]:
    """Hold the site's build lock for the block, waiting up to ``wait`` seconds for another
    build (logged once, so a wait never looks like a hang). LockedError after that."""
    with _locked(state_dir / BUILD_LOCK_NAME, "is building this site", wait, poll) as path:
        yield path


@contextmanager
def _locked(path: Path, doing: str, wait: float, poll: float) -> Iterator[Path]:
    try:
        # The lock is the first thing a build or a send makes under .fieldfeed/, so this is
        # where a site not made by `init` gets its state folder private (owner only).
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise _state_error(path, exc) from None
    try:
        _acquire(fd, path, doing, wait, poll)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            fcntl.flock(fd, fcntl.LOCK_UN)
            raise _state_error(path, exc) from None
        try:
            yield path
        finally:
            try:
                os.ftruncate(fd, 0)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, path: Path, doing: str, wait: float, poll: float) -> None:
    deadline = time.monotonic() + wait
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        except OSError as exc:  # ENOLCK and friends: not "someone else holds it"
            raise _state_error(path, exc) from None
        holder = _holder(path)
        if time.monotonic() >= deadline:
            waited = f" after waiting {wait:g}s" if wait else ""
            raise LockedError(
                f"another fieldfeed run{holder} {doing} ({path}); gave up{waited}. "
                "Try again when it has finished"
            ) from None
        if not told:
            log.warning("another fieldfeed run%s %s; waiting up to %gs", holder, doing, wait)
            told = True
        time.sleep(poll)


def _state_error(path: Path, exc: OSError) -> StateError:
    """One line naming the lock file and the OS error, e.g. "No space left on device"."""
    reason = exc.strerror or exc.__class__.__name__
    where = exc.filename if isinstance(exc.filename, str) else str(path)
    return StateError(f"cannot lock the site's state folder: {where}: {reason}")


def _holder(path: Path) -> str:
    try:
        pid = path.read_text(encoding="ascii").strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""
