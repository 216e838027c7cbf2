"""The build cache: rendered posts keyed by a hash of their source and the render settings.

One file (``<state>/cache/posts.pickle``) holds every entry, so a warm build opens one file,
not one per post. Writes are atomic; a missing, stale or corrupted cache is simply empty.
The cache only ever holds what this machine wrote into the site's own state directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["CACHE_FORMAT", "BuildCache", "cache_key"]

#: Bump when the layout of cached values changes (for instance a new field on Post).
CACHE_FORMAT = 1
_FILE_NAME = "posts.pickle"


def cache_key(fingerprint: bytes, source: str, raw: bytes) -> str:
    """Key for one file: its bytes, its path (the slug comes from it) and the fingerprint."""
    h = hashlib.sha256(fingerprint)
    h.update(b"\0" + source.encode("utf-8", "surrogateescape") + b"\0")
    h.update(raw)
    return h.hexdigest()


class BuildCache:
    """Entries from the last build, and the ones this build used or added.

    ``get`` and ``put`` mark entries as live; ``save`` keeps only live entries, so deleted or
    edited posts do not pile up.
    """

    def __init__(self, directory: Path, fingerprint: bytes) -> None:
        self.path = directory / _FILE_NAME
        self.fingerprint = fingerprint
        self._old: dict[str, Any] = {}
        self._live: dict[str, Any] = {}
        self._dirty = False

    @classmethod
    def load(cls, directory: Path, fingerprint: bytes) -> BuildCache:
        """Read the cache; anything unreadable or written for other settings counts as empty."""
        cache = cls(directory, fingerprint)
        try:
            with cache.path.open("rb") as f:
                header = pickle.load(f)  # noqa: S301 - our own state file
                if header == (CACHE_FORMAT, fingerprint):
                    entries = pickle.load(f)  # noqa: S301
                    if isinstance(entries, dict):
                        cache._old = entries
        except Exception:  # a broken cache is rebuilt, never an error
            cache._old = {}
        return cache

    def get(self, key: str) -> Any | None:
        value = self._old.get(key)
        if value is not None:
            self._live[key] = value
        return value

    def put(self, key: str, value: Any) -> None:
        self._live[key] = value
        self._dirty = True

    def save(self) -> None:
        """Write live entries atomically, only when something changed. Failures are ignored:
        the cache is an optimisation and must never fail a build."""
        if not self._dirty and len(self._live) == len(self._old):
            return
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".posts-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    pickle.dump((CACHE_FORMAT, self.fingerprint), f, protocol=5)
                    pickle.dump(self._live, f, protocol=5)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        self._old = self._live
        self._dirty = False
