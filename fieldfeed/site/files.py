"""The content folder on disk: which files are in it, and reading them without leaving it.

Every file fieldfeed reads from ``content/`` (posts, and the assets published beside them) is
found by :func:`find_site_files` and read by :func:`read_content_file`; nothing else opens
content files. That is the one place the rule lives: nothing that resolves outside the
content folder is ever read or published. A content pull request can add a symlink to
``/etc/passwd`` or to ``.fieldfeed/secret`` (the key that signs every token); before this
rule the build copied its target into the output folder and ``serve`` handed it out.

- Discovery reports each symlink (to a file or a folder) whose target lies outside the
  content folder, or on a hidden file inside it, as an error naming it (``check`` and every
  build stop on it: a link that leaves the folder is either an attack or a file the deployed
  site would not have, and an error makes the pull request's check fail where a reviewer
  sees it, instead of a warning nobody reads). Symlinked folders are never walked (as
  before: a link to a parent would loop); one that stays inside is published under its real
  path.
- Reading resolves the real path, checks that it lies below the content folder's real path,
  then opens it one component at a time from the folder itself with ``O_NOFOLLOW``, so a
  folder or file swapped for a symlink after the check fails to open instead of being
  followed (no time-of-check-to-time-of-use window), and ``O_NONBLOCK`` plus a regular-file
  check so a FIFO cannot hang the build.

Hard links are not symlinks and cannot be told from ordinary files; git does not create them,
so a pull request cannot add one.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from fieldfeed.errors import Problem, display_path

__all__ = [
    "POST_SUFFIXES",
    "OutsideContentError",
    "SiteFiles",
    "exclude_matcher",
    "find_site_files",
    "read_content_file",
]

POST_SUFFIXES = (".md", ".markdown")


class OutsideContentError(OSError):
    """A content file resolves outside the content folder (or onto a hidden file in it)."""


@dataclass(frozen=True, slots=True)
class SiteFiles:
    """What :func:`find_site_files` found, in a stable order."""

    posts: tuple[Path, ...]
    #: Every other publishable file (images, attachments).
    assets: tuple[Path, ...]
    #: One error per symlink that leads out of the content folder: never read or published.
    problems: tuple[Problem, ...]


def find_site_files(content_dir: Path, site_root: Path, exclude: Iterable[str] = ()) -> SiteFiles:
    """Posts and assets below ``content_dir``; symlinks leading out of it as problems.

    Dotfiles and dot dirs are skipped, so editor swap files and ``.git`` never get published.
    A file (or folder) matching an ``exclude`` glob (``[content] exclude``, see
    :func:`exclude_matcher`) is neither a post nor an asset, and is never read.
    """
    excluded = exclude_matcher(tuple(exclude))
    root = os.path.realpath(content_dir)
    label = display_path(content_dir, site_root).rstrip("/") + "/"
    posts: list[Path] = []
    assets: list[Path] = []
    problems: list[Problem] = []

    def escapes(path: Path) -> bool:
        """Whether ``path`` (a symlink) leads out; records the problem if so."""
        target = os.path.realpath(path)
        if _parts_below(target, root) is not None:
            return False
        shown = display_path(Path(target), site_root)
        where = (
            "outside " + label if _below(target, root) is None else "to a hidden file in " + label
        )
        problems.append(
            Problem(display_path(path, site_root), 0, f"symlink points {where} ({shown})")
        )
        return True

    for folder, dirs, files in os.walk(content_dir):  # followlinks=False: links are not walked
        base = Path(folder)
        walked = []
        for name in sorted(d for d in dirs if not d.startswith(".")):
            if excluded(os.path.relpath(base / name, content_dir)):
                continue
            if os.path.islink(base / name):
                escapes(base / name)
            else:
                walked.append(name)
        dirs[:] = walked
        for name in sorted(files):
            if name.startswith(".") or name.endswith("~"):
                continue
            path = base / name
            if excluded(os.path.relpath(path, content_dir)):
                continue
            if os.path.islink(path) and escapes(path):
                continue
            (posts if name.lower().endswith(POST_SUFFIXES) else assets).append(path)
    return SiteFiles(tuple(posts), tuple(assets), tuple(problems))


@functools.lru_cache(maxsize=8)
def exclude_matcher(globs: tuple[str, ...]) -> Callable[[str], bool]:
    """A test ``matcher(relative_path)`` for ``[content] exclude`` globs.

    Paths are relative to the content folder, with "/" (``os.sep`` is accepted too). Like
    .gitignore: a glob without "/" (``_index.md``, ``*.txt``) matches a name at any depth, one
    with "/" (``pages/*.md``, ``/about.md``) matches from the content folder; ``*`` and ``?``
    stay inside one name, ``**`` crosses folders, ``[abc]`` is a character class; a glob that
    matches a folder excludes everything below it. Written here because ``fnmatch`` lets ``*``
    cross "/" and ``glob.translate`` needs Python 3.13.
    """
    parts = []
    for glob in globs:
        body = glob.strip().rstrip("/")
        if not body:
            continue
        anchored = "/" in body
        regex = _glob_regex(body.lstrip("/"))
        parts.append(regex if anchored else f"(?:.*/)?{regex}")
    if not parts:
        return _NEVER
    pattern = re.compile(f"(?:{'|'.join(parts)})(?:/.*)?", re.DOTALL)
    return _SlashMatcher(pattern)


def _glob_regex(glob: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and "]" in glob[i + 2 :]:
            end = glob.index("]", i + 2)
            inner = glob[i + 1 : end]
            if inner.startswith("!"):
                inner = "^" + inner[1:]
            out.append("[" + inner.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


class _Never:
    """The matcher for no globs."""

    def __call__(self, path: str) -> bool:
        return False


class _SlashMatcher(_Never):
    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern

    def __call__(self, path: str) -> bool:
        return self.pattern.fullmatch(path.replace(os.sep, "/")) is not None


_NEVER = _Never()


def read_content_file(path: str | Path, root: str) -> bytes:
    """The bytes of ``path``, a file below the content folder whose real path is ``root``.

    Raises OutsideContentError when it resolves outside ``root`` (or onto a hidden file),
    and OSError when it cannot be read or is not a regular file.
    """
    real = os.path.realpath(path)
    parts = _parts_below(real, root)
    if not parts:
        raise OutsideContentError(
            errno.EACCES, "resolves outside the content folder", os.fspath(path)
        )
    fd = _open_below(root, parts)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", os.fspath(path))
        return f.read()


def _open_below(root: str, parts: tuple[str, ...]) -> int:
    """Open ``root/parts...`` without following any symlink below ``root``."""
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW
    fd = os.open(root, os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            inner = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        return os.open(parts[-1], flags | os.O_NONBLOCK, dir_fd=fd)
    finally:
        os.close(fd)


def _below(real: str, root: str) -> tuple[str, ...] | None:
    """The components of ``real`` below ``root`` (both real paths), or None if outside."""
    if real == root:
        return ()
    prefix = root if root.endswith(os.sep) else root + os.sep
    if not real.startswith(prefix):
        return None
    return tuple(real[len(prefix) :].split(os.sep))


def _parts_below(real: str, root: str) -> tuple[str, ...] | None:
    """Like :func:`_below`, but None also for a hidden file or folder: discovery never
    publishes those, so a symlink must not reach them either."""
    parts = _below(real, root)
    if parts is None or any(p.startswith(".") or p.endswith("~") for p in parts):
        return None
    return parts
