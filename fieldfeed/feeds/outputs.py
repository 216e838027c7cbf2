"""Writing feed files to the output folder: atomically, only when changed, tidying our leftovers.

The IO edge for :mod:`fieldfeed.feeds.build`. Guarantees:

- a reader (or a web server) never sees a half-written file: each file is written to a temp
  name in its own folder, fsynced, then ``os.replace``-d over the old one;
- all temp files are written before any rename, so a failure while writing (disk full) leaves
  every old output as it was, and a crash during the renames leaves old or new files, whole;
- a file whose bytes did not change is not touched (its mtime stays, so HTTP caches and rsync
  see nothing new);
- a manifest remembers what we wrote, so a feed that is no longer produced (a tag that
  disappeared) is removed, with its now-empty folder. Nothing we did not write is ever removed;
- temp files an earlier run left behind (``kill -9`` or a power cut between writing a temp
  file and renaming it) are removed when the next write starts: only names of the form
  ``.<name>.<8 random>.tmp`` beside a file the manifest names, i.e. exactly what
  :func:`tempfile.mkstemp` made for one of our files. The caller must hold the site's build
  lock (:func:`fieldfeed.lock.build_lock`): another build's temp files look the same.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fieldfeed.errors import FieldfeedError
from fieldfeed.feeds.build import FeedFile
from fieldfeed.statefiles import fsync_dir

__all__ = [
    "MANIFEST_VERSION",
    "OutputError",
    "WriteReport",
    "remove_leftover_temps",
    "write_file_atomic",
    "write_outputs",
]

MANIFEST_VERSION = 1
_FILE_MODE = 0o644  # feeds are public: a web server running as another user must read them


class OutputError(FieldfeedError):
    """The output folder or the manifest could not be written; old outputs are intact."""


@dataclass(frozen=True, slots=True)
class WriteReport:
    """What :func:`write_outputs` did (or, in a dry run, would do). Paths as in FeedFile."""

    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]


def write_outputs(
    out_dir: Path, files: Sequence[FeedFile], manifest: Path, *, dry_run: bool = False
) -> WriteReport:
    """Bring ``out_dir`` in line with ``files``; record them in ``manifest``.

    Raises OutputError (with old outputs intact) when a file cannot be written. In a dry run
    nothing on disk changes; the report says what would.
    """
    paths = [_checked(f.path) for f in files]
    if len(set(paths)) != len(paths):
        raise OutputError(
            f"duplicate output paths: {sorted(p for p in paths if paths.count(p) > 1)}"
        )
    out_root = out_dir.resolve()
    previous = _read_manifest(manifest, out_root)

    changed: list[FeedFile] = []
    unchanged: list[str] = []
    for f in files:
        target = out_dir / f.path
        if target.is_dir():
            raise OutputError(f"{target}: is a folder, expected a feed file")
        if _same_bytes(target, f.data):
            unchanged.append(f.path)
        else:
            changed.append(f)
    current = {f.path for f in files}
    stale = sorted(p for p in previous - current if (out_dir / p).is_file())
    report = WriteReport(
        written=tuple(sorted(f.path for f in changed)),
        unchanged=tuple(sorted(unchanged)),
        removed=tuple(stale),
    )
    if dry_run:
        return report

    # 0. Temp files of earlier runs that died mid-write: ours by name (see the docstring).
    remove_leftover_temps([*(out_dir / p for p in previous | current), manifest])
    # 1. Remember everything we may leave on disk before creating any of it: if we crash
    #    between here and step 4, the next run still knows these files are ours.
    _write_manifest(manifest, out_root, previous | current)
    # 2. Every temp file, fully written and fsynced, before any rename.
    staged: list[tuple[Path, Path]] = []
    try:
        for f in changed:
            target = out_dir / f.path
            target.parent.mkdir(parents=True, exist_ok=True)
            staged.append((_write_temp(target, f.data), target))
    except OSError as exc:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise OutputError(
            f"could not write {out_dir}: {exc}; previous outputs left as they were"
        ) from exc
    # 3. Renames: each is atomic; together they are as close as a filesystem allows.
    try:
        for tmp, target in staged:
            os.replace(tmp, target)
    except OSError as exc:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise OutputError(f"could not replace files in {out_dir}: {exc}") from exc
    for folder in {target.parent for _, target in staged}:
        fsync_dir(folder)
    # 4. Remove what we wrote before and no longer produce, then folders left empty.
    for rel in stale:
        (out_dir / rel).unlink(missing_ok=True)
        _remove_empty_parents((out_dir / rel).parent, out_dir)
    _write_manifest(manifest, out_root, current)
    return report


def _checked(path: str) -> str:
    """Refuse output paths that could escape the output folder."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or "\\" in path or str(pure) != path:
        raise OutputError(f"refusing to write outside the output folder: {path!r}")
    return path


def _same_bytes(target: Path, data: bytes) -> bool:
    try:
        if target.stat().st_size != len(data):
            return False
        return target.read_bytes() == data
    except OSError:  # missing, or a path component is not a folder: staging will say why
        return False


def write_file_atomic(target: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``target`` with ``data`` through a unique temp file (two writers never share
    one); raises OutputError naming the file and the OS error (a full disk, say)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _write_temp(target, data, mode)
        try:
            os.replace(tmp, target)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise OutputError(f"could not write {target}: {exc.strerror or exc}") from exc
    fsync_dir(target.parent)


#: What :func:`_write_temp` names a temp file for ``<name>``: mkstemp's prefix, its 8 random
#: characters (``[a-z0-9_]``) and suffix.
_TEMP_NAME = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")


def remove_leftover_temps(targets: Iterable[Path]) -> int:
    """Remove temp files left beside ``targets`` by earlier runs; return how many.

    Only regular files named like the temp file :func:`_write_temp` makes for one of the
    targets are removed; the caller holds the build lock, so no live write owns them.
    """
    by_folder: dict[Path, set[str]] = defaultdict(set)
    for target in targets:
        by_folder[target.parent].add(target.name)
    removed = 0
    for folder, names in by_folder.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            match = _TEMP_NAME.fullmatch(entry.name)
            if match is None or match["name"] not in names:
                continue
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)
                    removed += 1
    return removed


def _write_temp(target: Path, data: bytes, mode: int = _FILE_MODE) -> Path:
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _remove_empty_parents(folder: Path, stop: Path) -> None:
    stop = stop.absolute()
    folder = folder.absolute()
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()  # fails unless empty: someone else's files keep their folder
        except OSError:
            return
        folder = folder.parent


def published_files(out_dir: Path, manifest: Path) -> tuple[str, ...] | None:
    """What the last write left in ``out_dir`` (sorted), or None if any of it is missing.

    Lets a build with nothing changed skip regenerating files that are all still in place.
    """
    out_root = out_dir.resolve()
    paths = _read_manifest(manifest, out_root)
    if not paths or not all((out_root / p).is_file() for p in paths):
        return None
    return tuple(sorted(paths))


def _read_manifest(manifest: Path, out_root: Path) -> set[str]:
    """Paths we wrote last time into this same output folder; empty when unknown.

    An unreadable or foreign manifest (written for another output folder) yields nothing, so
    we never delete on a guess.
    """
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):  # missing, or no folder
        return set()
    if not isinstance(data, dict) or data.get("out_dir") != str(out_root):
        return set()
    files = data.get("files")
    if not isinstance(files, list):
        return set()
    ours = set()
    for path in files:
        if isinstance(path, str):
            with contextlib.suppress(OutputError):
                ours.add(_checked(path))
    return ours


def _write_manifest(manifest: Path, out_root: Path, paths: set[str]) -> None:
    doc = {"version": MANIFEST_VERSION, "out_dir": str(out_root), "files": sorted(paths)}
    data = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if _same_bytes(manifest, data):
        return
    try:
        manifest.parent.mkdir(parents=True, exist_ok=True)
        tmp = _write_temp(manifest, data)
        os.replace(tmp, manifest)
    except OSError as exc:
        raise OutputError(f"could not write the output manifest {manifest}: {exc}") from exc
    fsync_dir(manifest.parent)
