"""The build cache: rendered posts keyed by a hash of their source and the render settings.

Two parts under ``<state>/cache/``, so that memory does not grow with the size of the archive:

- ``index.pickle``: every cached entry *without* its HTML body (title, dates, tags, summary,
  word count: a few hundred bytes per post), plus each source file's last ``stat`` so an
  unchanged file is recognised without reading and hashing it. Loaded whole at start.
- ``html/<key>``: one file per cache key holding the rendered HTML, read only when someone
  reads ``Post.html`` (feeds need the newest ~1,000 posts at most, a digest ~20).

One file per key rather than a SQLite table: measured on this machine for 10,000 bodies of
8.4 KB, writing them costs the same (1.0 s vs 1.3 s), reading 1,050 of them is twice as fast
(34 ms vs 78 ms), listing the keys is the same (12 ms), and a file needs no connection that
must not cross a fork or a thread. The key is a content hash, so a body file never changes
meaning: it is written to a temp file and renamed, and its first line is ``<key> <digest>``
where the digest is the SHA-256 of the key and the body together. So a file holds the body
*of its key*, checked twice:

- when the index hands out an entry (:meth:`BuildCache.get`), the first line must name the
  key: a body file swapped for another valid one (a restored backup, two caches merged by
  rsync, a hand edit) counts as a miss and the post is rendered again (issue 7, item 13:
  the swapped body used to be published under the other post's title, silently);
- when the body is read, the digest must match the key and the body, so a torn or truncated
  file (a crash before the data reached the disk), or a first line that names the key over
  another post's body, raises instead of handing a feed a wrong or empty body.

The digest is not keyed: it detects accidents, not a local user who can write to the state
folder (such a user can also replace the secret or the database).

Bodies are written before the index that names them, and an index entry whose body file is
missing counts as a miss, so a crash between the two only costs a re-render. ``save`` prunes
body files no index names, but keeps the previous build's keys for one more build: a process
that loaded the previous index (a digest being frozen while someone rebuilds) can still read
its bodies. A missing, stale or corrupted cache is simply empty; the cache only ever holds
what this machine wrote into the site's own state directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from fieldfeed.errors import FieldfeedError

__all__ = [
    "CACHE_FORMAT",
    "BodyStore",
    "BodyUnavailableError",
    "BuildCache",
    "FileStat",
    "StoredBody",
    "cache_key",
    "file_stat",
]

#: Bump when the layout of cached values changes (for instance a new field on Post).
CACHE_FORMAT = 3
_INDEX_NAME = "index.pickle"
_BODY_DIR = "html"
#: Files of older cache formats, removed on save (the format-1 pickle held every body).
_LEGACY = ("posts.pickle",)
#: Bodies kept in memory after a read, so a post in several feeds is read from disk once.
_MEMO_BYTES = 16 * 1024 * 1024


def cache_key(fingerprint: bytes, source: str, raw: bytes) -> str:
    """Key for one file: its bytes, its path (the slug comes from it) and the fingerprint."""
    h = hashlib.sha256(fingerprint)
    h.update(b"\0" + source.encode("utf-8", "surrogateescape") + b"\0")
    h.update(raw)
    return h.hexdigest()


#: What identifies an unchanged file without reading it: (mtime_ns, ctime_ns, size, inode,
#: device). ctime cannot be set from user space, so ``touch -d``, ``cp -p`` or ``rsync -t``
#: restoring an old mtime on new bytes still changes it.
FileStat = tuple[int, int, int, int, int]


def file_stat(st: os.stat_result) -> FileStat:
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_dev)


class BodyUnavailableError(FieldfeedError):
    """A post's HTML body is missing from (or damaged in) the build cache's body store."""


class BodyStore:
    """HTML bodies by cache key, one file each under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._memo: OrderedDict[str, str] = OrderedDict()
        self._memo_chars = 0
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        return (BodyStore, (self.directory,))

    def __repr__(self) -> str:
        return f"BodyStore({str(self.directory)!r})"

    def keys(self) -> set[str]:
        """Keys with a body file (temp files of interrupted writes are left out)."""
        try:
            return {n for n in os.listdir(self.directory) if not n.startswith(".")}
        except OSError:
            return set()

    def put_many(self, items: dict[str, str]) -> set[str]:
        """Write bodies; return the keys now stored. A failure skips that key, never raises."""
        stored: set[str] = set()
        if not items:
            return stored
        with contextlib.suppress(OSError):
            self.directory.mkdir(parents=True, exist_ok=True)
        for key, html in items.items():
            data = html.encode("utf-8", "surrogatepass")
            header = _header(key, data)
            try:
                fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".body-", suffix=".tmp")
            except OSError:
                continue
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(header + data)
                os.replace(tmp, self.directory / key)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                continue
            stored.add(key)
        return stored

    def read(self, key: str) -> str:
        """The body stored under ``key``; raises BodyUnavailableError, never returns ""."""
        with self._lock:
            html = self._memo.get(key)
            if html is not None:
                self._memo.move_to_end(key)
                return html
        path = self.directory / key
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BodyUnavailableError(
                f"{path}: cached post body is gone ({exc.strerror or exc}); another build "
                "may have pruned the cache while this one ran: run the command again"
            ) from None
        header, _, body = data.partition(b"\n")
        if header + b"\n" != _header(key, body):
            with contextlib.suppress(OSError):
                path.unlink()  # the next build sees the key missing and re-renders the post
            raise BodyUnavailableError(
                f"{path}: cached post body is damaged and was removed: run the command again"
            )
        html = body.decode("utf-8", "surrogatepass")
        with self._lock:
            self._memo[key] = html
            self._memo_chars += len(html)
            while self._memo_chars > _MEMO_BYTES and self._memo:
                self._memo_chars -= len(self._memo.popitem(last=False)[1])
        return html

    def holds(self, key: str) -> bool:
        """Whether the body file for ``key`` says it holds that key's body (its first line
        names the key). Reads a few dozen bytes; the full check is in :meth:`read`."""
        prefix = key.encode("utf-8", "surrogateescape") + b" "
        try:  # os.open, not open(): half the cost (~12 us a key, paid per cache hit)
            fd = os.open(self.directory / key, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            return os.read(fd, len(prefix)) == prefix
        except OSError:
            return False
        finally:
            os.close(fd)

    def prune(self, keep: set[str]) -> None:
        """Remove body files (and stray temp files) whose key is not in ``keep``."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            if name not in keep:
                with contextlib.suppress(OSError):
                    os.unlink(self.directory / name)


@dataclass(frozen=True, slots=True, repr=False)
class StoredBody:
    """A reference to one body in a BodyStore: what a cached Post holds instead of its HTML."""

    store: BodyStore
    key: str

    def load(self) -> str:
        return self.store.read(self.key)

    def __repr__(self) -> str:
        return f"StoredBody({self.key[:12]}…)"


class _IndexPickler(pickle.Pickler):
    """Writes StoredBody references as their key only: the index never names a path, so a
    site folder can be moved or copied with its cache."""

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) is StoredBody:
            return obj.key
        return None


class _IndexUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], store: BodyStore) -> None:
        super().__init__(file)
        self.store = store

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, str):
            raise pickle.UnpicklingError("unexpected persistent id")
        return StoredBody(self.store, pid)


class BuildCache:
    """Entries from the last build, and the ones this build used or added.

    Values are stored as given except for their HTML: ``put`` takes the body separately and
    callers hold a ``StoredBody`` for it. ``get`` and ``put`` mark entries as live; ``save``
    keeps only live entries, so deleted or edited posts do not pile up.
    """

    def __init__(self, directory: Path, fingerprint: bytes) -> None:
        self.path = directory / _INDEX_NAME
        self.fingerprint = fingerprint
        self.store = BodyStore(directory / _BODY_DIR)
        self._old: dict[str, Any] = {}
        self._live: dict[str, Any] = {}
        self._old_stats: dict[str, tuple[FileStat, str]] = {}
        self._stats: dict[str, tuple[FileStat, str]] = {}
        #: Files modified at or after this time (ns) may have changed without their stat
        #: changing (a second write in the same clock tick); they are always hashed.
        self._racy_after = 0
        self._scan_start = 0
        self._dirty = False

    @classmethod
    def load(cls, directory: Path, fingerprint: bytes) -> BuildCache:
        """Read the index; anything unreadable or written for other settings counts as empty,
        and an entry whose body file is missing counts as absent."""
        cache = cls(directory, fingerprint)
        cache._scan_start = _fs_now()
        try:
            with cache.path.open("rb") as f:
                header = pickle.load(f)  # noqa: S301 - our own state file
                if header == (CACHE_FORMAT, fingerprint):
                    racy_after, stats, entries = _IndexUnpickler(f, cache.store).load()
                    if isinstance(entries, dict) and isinstance(stats, dict):
                        cache._old, cache._old_stats = entries, stats
                        cache._racy_after = int(racy_after)
        except Exception:  # a broken cache is rebuilt, never an error
            cache._old, cache._old_stats = {}, {}
        if cache._old:
            present = cache.store.keys()
            if len(present) < len(cache._old) or not present.issuperset(cache._old):
                cache._old = {k: v for k, v in cache._old.items() if k in present}
        return cache

    def key_for_stat(self, source: str, stat: FileStat) -> str | None:
        """The key recorded for ``source`` when its stat is the same as last build, else None
        (then the caller reads and hashes the file: the content hash stays the key)."""
        known = self._old_stats.get(source)
        if known is None or known[0] != stat or stat[0] >= self._racy_after:
            return None
        return known[1]

    def note_stat(self, source: str, stat: FileStat, key: str) -> None:
        """Remember that ``source`` with this stat had these bytes (key), for the next build."""
        self._stats[source] = (stat, key)

    def get(self, key: str) -> Any | None:
        """The entry for ``key``, or None: absent, or its body file does not hold this key's
        body (swapped or replaced), so the caller renders the post again."""
        value = self._old.get(key)
        if value is None:
            return None
        if not self.store.holds(key):
            del self._old[key]
            return None
        self._live[key] = value
        return value

    def put_bodies(self, bodies: dict[str, str]) -> set[str]:
        """Store HTML bodies by key; returns the keys stored (a failed write is left out)."""
        return self.store.put_many(bodies)

    def body(self, key: str) -> StoredBody:
        return StoredBody(self.store, key)

    def put(self, key: str, value: Any) -> None:
        """Index ``value`` (whose body was stored with ``put_bodies``) under ``key``."""
        self._live[key] = value
        self._dirty = True

    def save(self) -> None:
        """Write the index atomically, only when something changed, then prune body files.
        Failures are ignored: the cache is an optimisation and must never fail a build."""
        if not self._dirty and len(self._live) == len(self._old) and self._stats == self._old_stats:
            return
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".index-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    pickle.dump((CACHE_FORMAT, self.fingerprint), f, protocol=5)
                    _IndexPickler(f, protocol=5).dump((self._scan_start, self._stats, self._live))
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            for name in _LEGACY:
                with contextlib.suppress(OSError):
                    (self.path.parent / name).unlink()
            # Index temp files of builds killed mid-save (ours is renamed by now).
            for leftover in self.path.parent.glob(".index-*.tmp"):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            # Keep the previous build's bodies one build longer (see the module docstring).
            self.store.prune(set(self._live) | set(self._old))
        self._old = self._live
        self._old_stats = self._stats
        self._dirty = False


def _header(key: str, body: bytes) -> bytes:
    """A body file's first line: the key, and a digest binding the key to the body."""
    raw = key.encode("utf-8", "surrogateescape")
    digest = hashlib.sha256(raw + b"\n" + body).hexdigest().encode("ascii")
    return raw + b" " + digest + b"\n"


def _fs_now() -> int:
    """Now (ns), less a second: file timestamps can lag the wall clock by a coarse tick, and
    a file modified at or after this may have changed without its stat changing."""
    return time.time_ns() - 1_000_000_000
