"""The output folder over HTTP: feeds at their output paths, with validators and gzip.

Each file is read once per (mtime, size) and kept with its content hash (the strong ETag) and
its gzip encoding, so a conditional GET costs a stat and a dict lookup. The gzip representation
gets its own ETag (``"<hash>-gz"``): RFC 9110 8.8.3 says a strong validator names one exact
byte sequence, and a cache must not hand the gzip bytes to a client that did not ask for them.
Files are never looked up outside the output folder (no ``..``, no absolute paths, no symlinks
pointing out of it).
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import stat
import threading
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path, PurePosixPath

from starlette.requests import Request
from starlette.responses import Response

#: Content types by file name, then by suffix. Feeds get their registered media types.
_BY_NAME = {
    "rss.xml": "application/rss+xml",
    "atom.xml": "application/atom+xml",
    "feed.json": "application/feed+json",
}
_BY_SUFFIX = {
    ".xsl": "text/xsl",
    ".xml": "application/xml",
    ".json": "application/json",
    ".html": "text/html",
    ".htm": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".txt": "text/plain",
    ".svg": "image/svg+xml",
}
_TEXTUAL = (
    "text/",
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/xml",
    "application/json",
    "image/svg+xml",
    "text/javascript",
)
#: Media types worth compressing (images and archives are compressed already).
_COMPRESSIBLE = _TEXTUAL
#: Below this, gzip costs more than it saves.
_GZIP_MIN = 512
#: Feeds change on rebuild; clients revalidate with the ETag every time (cheap 304s).
CACHE_CONTROL = "public, max-age=0, must-revalidate"


def content_type(name: str) -> str:
    """The Content-Type header for a file name, with ``charset=utf-8`` on text."""
    media = _BY_NAME.get(name) or _BY_SUFFIX.get(PurePosixPath(name).suffix.lower())
    if media is None:
        media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if media.startswith(_TEXTUAL):
        return f"{media}; charset=utf-8"
    return media


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One file's bytes and validators, as of one (mtime, size)."""

    body: bytes
    gzipped: bytes | None
    etag: str  #: strong, quoted
    last_modified: str  #: IMF-fixdate
    mtime: float
    content_type: str
    stamp: tuple[int, int]  #: (mtime_ns, size)


class StaticFiles:
    """Serves ``root`` (the feeds' output folder) read-only, with a small in-memory cache."""

    def __init__(self, root: Path, *, index: str = "index.html", max_cached: int = 512) -> None:
        self.root = root
        self.index = index
        self.max_cached = max_cached
        self._cache: dict[Path, StaticFile] = {}
        self._lock = threading.Lock()

    def resolve(self, url_path: str) -> Path | None:
        """The file a URL path names inside ``root``, or None (missing, hidden or outside).

        Rejects ``..`` segments, backslashes, NUL and dot-files outright instead of
        normalising them: a path that needs cleaning is not a feed anyone links to.
        """
        if "\x00" in url_path or "\\" in url_path or len(url_path) > 1024:
            return None
        parts = [p for p in url_path.split("/") if p]
        if any(p in (".", "..") or p.startswith(".") for p in parts):
            return None
        try:
            root = self.root.resolve()
            candidate = root.joinpath(*parts) if parts else root
            if candidate.is_dir():
                candidate = candidate / self.index
            real = candidate.resolve()
            if not real.is_relative_to(root) or not real.is_file():
                return None
        except (OSError, ValueError):
            return None
        return real

    def load(self, path: Path) -> StaticFile | None:
        """The cached record for ``path``, re-read when its mtime or size changed.

        ``path`` is a real path from :meth:`resolve`; it is opened with ``O_NOFOLLOW`` (and
        ``O_NONBLOCK``, then checked to be a regular file), so a file swapped for a symlink
        after ``resolve`` checked it is refused instead of followed out of the folder.
        """
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as f:
            try:
                st = os.fstat(f.fileno())
                if not stat.S_ISREG(st.st_mode):
                    return None
                stamp = (st.st_mtime_ns, st.st_size)
                with self._lock:
                    cached = self._cache.get(path)
                if cached is not None and cached.stamp == stamp:
                    return cached
                body = f.read()
            except OSError:
                return None
        ctype = content_type(path.name)
        gz = None
        if len(body) >= _GZIP_MIN and ctype.startswith(_COMPRESSIBLE):
            # mtime=0: the same bytes always compress to the same bytes (a stable gzip ETag).
            gz = gzip.compress(body, compresslevel=6, mtime=0)
        record = StaticFile(
            body=body,
            gzipped=gz,
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            last_modified=formatdate(st.st_mtime, usegmt=True),
            mtime=st.st_mtime,
            content_type=ctype,
            stamp=stamp,
        )
        with self._lock:
            if len(self._cache) >= self.max_cached:
                self._cache.clear()
            self._cache[path] = record
        return record

    def respond(self, request: Request, url_path: str) -> Response | None:
        """A 200/304 response for ``url_path``, or None when there is no such file."""
        path = self.resolve(url_path)
        if path is None:
            return None
        record = self.load(path)
        if record is None:
            return None
        use_gzip = record.gzipped is not None and accepts_gzip(
            request.headers.get("accept-encoding", "")
        )
        etag = record.etag[:-1] + '-gz"' if use_gzip else record.etag
        media_type = record.content_type
        vary = "Accept-Encoding"
        if media_type.startswith(_XML_FEEDS):
            vary = "Accept, Accept-Encoding"
            if wants_page(request.headers.get("accept", "")):
                media_type = "application/xml; charset=utf-8"
        headers = {
            "ETag": etag,
            "Last-Modified": record.last_modified,
            "Cache-Control": CACHE_CONTROL,
            "Vary": vary,
            "X-Content-Type-Options": "nosniff",
        }
        if not_modified(request, etag, record.mtime):
            return Response(status_code=304, headers=headers)
        body = record.gzipped if use_gzip and record.gzipped is not None else record.body
        if use_gzip:
            headers["Content-Encoding"] = "gzip"
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            return Response(status_code=200, headers=headers, media_type=media_type)
        return Response(body, headers=headers, media_type=media_type)


_XML_FEEDS = ("application/rss+xml", "application/atom+xml")


def wants_page(accept: str) -> bool:
    """Whether the client is a browser opening the feed as a page (Accept prefers text/html).

    Browsers show application/rss+xml and application/atom+xml as plain text (or offer a
    download) and never apply the feed's XSLT stylesheet; served as application/xml the same
    bytes render as a readable page. Feed readers ask for feed types or */* and keep the
    feed's own type.
    """
    best_html = best_feed = 0.0
    for item in accept.split(","):
        media, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.strip().lower()
        if media in ("text/html", "application/xhtml+xml"):
            best_html = max(best_html, q)
        elif media in ("application/rss+xml", "application/atom+xml"):
            best_feed = max(best_feed, q)
    return best_html > 0 and best_html > best_feed


def not_modified(request: Request, etag: str, mtime: float) -> bool:
    """RFC 9110 13.1.2-3: If-None-Match wins; If-Modified-Since only when it is absent."""
    inm = request.headers.get("if-none-match")
    if inm is not None:
        return etag_matches(inm, etag)
    ims = request.headers.get("if-modified-since")
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
        if since is None or since.tzinfo is None:
            return False
        # HTTP dates have whole seconds; the file is unchanged when its mtime is not newer.
        return int(mtime) <= since.timestamp()
    return False


def etag_matches(header: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 8.8.3.2), as If-None-Match requires; ``*`` matches all."""
    if header.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(item.strip().removeprefix("W/") == wanted for item in header.split(","))


def accepts_gzip(header: str) -> bool:
    """Whether Accept-Encoding allows gzip (``gzip;q=0`` and ``*;q=0`` refuse it)."""
    star: bool | None = None
    for item in header.split(","):
        coding, _, params = item.strip().partition(";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding in ("gzip", "x-gzip"):
            return q > 0
        if coding == "*":
            star = q > 0
    return bool(star)


def newest_mtime(root: Path) -> float | None:
    """The newest modification time of any file under ``root`` (for /health), or None."""
    newest: float | None = None
    try:
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                try:
                    m = os.stat(os.path.join(dirpath, name)).st_mtime
                except OSError:
                    continue
                newest = m if newest is None or m > newest else newest
    except OSError:
        return None
    return newest
