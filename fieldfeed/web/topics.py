"""The topics a reader can choose: the tags of the site's published posts, read from the feeds.

``serve`` offers them on the subscribe form and the preferences page, and refuses any other.
They come from the built output folder (``public/tags/<slug>/feed.json``), not from the posts:

- the build writes a folder for every tag of a published post and removes the folder of a
  tag that is gone, so the list is exactly what has a feed (never a draft's or a future
  post's tag, which the build cache under ``.fieldfeed/cache`` does hold);
- ``serve`` already reads that folder and needs neither the Markdown nor the content;
- the files are written atomically, so a build running meanwhile never shows half a list.

The display name is the spelling the feed items carry (the site-wide one); each feed is
parsed once and remembered until its file changes. Files are opened without following
symlinks, like everything serve reads from the output folder.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from fieldfeed.model import Tag
from fieldfeed.names import tag_slug

log = logging.getLogger(__name__)

#: A tag feed larger than this is not parsed for its name (the slug is shown instead).
MAX_FEED_BYTES = 32 * 1024 * 1024


class SiteTopics:
    """The site's tags, sorted by name; re-read from ``output_dir/tags`` on every call."""

    def __init__(self, output_dir: Path) -> None:
        self.tags_dir = output_dir / "tags"
        self._names: dict[str, tuple[int, str]] = {}
        self._lock = threading.Lock()

    def tags(self) -> tuple[Tag, ...]:
        """Every tag with a built ``feed.json`` (blocking: reads the file system)."""
        try:
            entries = sorted(os.scandir(self.tags_dir), key=lambda e: e.name)
        except OSError:
            return ()
        found: list[Tag] = []
        for entry in entries:
            slug = entry.name
            if not entry.is_dir(follow_symlinks=False) or tag_slug(slug) != slug:
                continue
            name = self._name(slug)
            if name is not None:
                found.append(Tag(name, slug))
        return tuple(sorted(found, key=lambda t: (t.name.casefold(), t.slug)))

    def _name(self, slug: str) -> str | None:
        path = self.tags_dir / slug / "feed.json"
        try:
            stamp = os.stat(path, follow_symlinks=False).st_mtime_ns
        except OSError:
            return None
        with self._lock:
            cached = self._names.get(slug)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        name = _read_name(path, slug)
        with self._lock:
            self._names[slug] = (stamp, name)
        return name


def _read_name(path: Path, slug: str) -> str:
    """The tag's display name from its JSON feed's items, else the slug."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(MAX_FEED_BYTES + 1)
        if len(data) > MAX_FEED_BYTES:
            return slug
        feed = json.loads(data)
        for item in feed.get("items", ()):
            for name in item.get("tags", ()):
                if isinstance(name, str) and tag_slug(name) == slug:
                    return name
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        log.warning("tags/%s/feed.json: %s; showing the tag as %r", slug, exc, slug)
    return slug


def choose(available: tuple[Tag, ...], wanted: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """(slugs of the chosen tags, in the site's order; the values that name no tag).

    Each value is a tag's slug or spelling (a comma-separated list is split, for clients that
    post ``tags=Go, Databases``); an empty choice means every post.
    """
    known = {t.slug for t in available}
    chosen: set[str] = set()
    unknown: list[str] = []
    for value in wanted:
        for item in value.split(","):
            text = item.strip()
            if not text:
                continue
            slug = tag_slug(text[:200])
            if slug in known:
                chosen.add(slug)
            elif text not in unknown:
                unknown.append(text)
    return tuple(t.slug for t in available if t.slug in chosen), unknown


def unknown_message(unknown: list[str]) -> str:
    """The sentence shown when the form names tags the site does not have.

    It does not repeat what was sent (like every form message here): a crafted link must not
    make this site's page show an attacker's words.
    """
    if len(unknown) == 1:
        return "One of the topics sent is not a topic on this site. Choose from the list."
    return f"{len(unknown)} of the topics sent are not topics on this site. Choose from the list."
