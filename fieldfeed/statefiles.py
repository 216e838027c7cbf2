"""Private state on disk: the state folder (0700) and files only their owner may read (0600).

The state folder holds the subscriber database, the signing secret and the outbox: nothing in
it is for other users of the machine. Modes are set when a file or folder is created (through
``os.open``/``mkdir`` with the mode), never by a ``chmod`` afterwards, so there is no moment at
which another user could open it. Existing files and folders keep the mode they have: a site
that shares its SQLite file with a group on purpose keeps working.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

from fieldfeed.errors import StateError

#: Mode of folders made for state (only the owner may list or enter them).
DIR_MODE = 0o700
#: Mode of state files (only the owner may read or write them).
FILE_MODE = 0o600


def make_private_dir(path: Path) -> None:
    """Create ``path`` as 0700 if it is missing (its missing parents get the usual mode).

    Raises StateError with a one-line message when it cannot be created (a full disk, a
    read-only file system, a file in the way).
    """
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(f"cannot create {path}: {exc.strerror or exc}") from None


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists; its folder as 0700 if missing.

    For files another library creates and fills (SQLite): made first, they keep our mode,
    and SQLite gives its -wal, -shm and -journal files the mode of the database file.
    """
    if path.exists():
        return
    make_private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT, FILE_MODE))
    except OSError as exc:
        raise StateError(f"cannot create {path}: {exc.strerror or exc}") from None


def write_new_private_file(path: Path, data: bytes) -> bool:
    """Atomically create ``path`` (0600) holding ``data``; never replace an existing file.

    The bytes go to a temp file (``mkstemp``: O_EXCL, mode 0600) that is fsynced and then
    hard-linked into place, so ``path`` either does not exist or holds all of ``data``, even
    after a crash or a full disk. Linking, unlike ``rename``, fails if another process made
    ``path`` first: returns False then, and that process's file stands. Raises StateError.
    """
    make_private_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise StateError(f"cannot create {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        created = _link_no_replace(tmp, path)
        fsync_dir(path.parent)
        return created
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _link_no_replace(tmp: str, path: Path) -> bool:
    """Put ``tmp`` at ``path`` unless something is there already; True if we did."""
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
    # A file system without hard links: check, then rename (a race remains only there).
    if path.exists():
        return False
    os.rename(tmp, path)
    return True


def fsync_dir(path: Path) -> None:
    """Make a new directory entry durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_private_file(path: Path, fix: str) -> bytes | None:
    """The bytes of ``path``, None if it does not exist; StateError unless it is private.

    Refuses anything but a regular file, and a file that group or others may read or write
    (the mode is checked on the opened file, so a swap after the check changes nothing).
    ``fix`` ends the message about the mode. Never puts the file's bytes in a message.
    """
    try:
        # O_NONBLOCK: opening a FIFO planted here must not hang the command.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StateError(f"{path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077 and info.st_size:  # an empty file has nothing to leak
            raise StateError(
                f"{path} is open to other users (mode {mode:04o}; it must be 0600): "
                f"run `chmod 600 {path}`. {fix}"
            )
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read()
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
