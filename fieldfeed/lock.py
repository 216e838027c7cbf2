"""One runner per site: an advisory ``flock`` on a file in the site's state folder.

The kernel drops the lock when the process dies (kill -9 included), so a crash never leaves a
stale lock behind. This guards one machine; several machines sharing one PostgreSQL database
would need a database lock instead (docs/delivery.md).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fieldfeed.errors import LockedError

LOCK_NAME = "run.lock"


@contextmanager
def site_lock(state_dir: Path, *, wait: float = 0.0, poll: float = 0.05) -> Iterator[Path]:
    """Hold the site's lock for the block. Waits up to ``wait`` seconds, then LockedError."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _holder(path)
                    waited = f" after waiting {wait:g}s" if wait else ""
                    raise LockedError(
                        f"another fieldfeed run{holder} is sending for this site ({path}); "
                        f"gave up{waited}. Try again when it has finished"
                    ) from None
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holder(path: Path) -> str:
    try:
        pid = path.read_text(encoding="ascii").strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""
