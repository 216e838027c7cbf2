"""The whole job in one readable place: load -> build feeds -> write atomically -> digest.

The CLI and the scheduler call these functions; neither reimplements a step. The clock is
passed in (``now``), so a run is reproducible.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fieldfeed.config import Settings
from fieldfeed.content import SiteContent, load_content
from fieldfeed.feeds import FeedFile, build_feeds
from fieldfeed.outputs import WriteReport, write_outputs

if TYPE_CHECKING:
    from fieldfeed.digest import DigestReport

#: Called as (done, total) while a digest is being sent.
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What a build read and wrote."""

    content: SiteContent
    feeds: tuple[FeedFile, ...]
    written: WriteReport
    seconds: float

    def summary(self) -> str:
        """One line for the terminal, e.g. "10 posts (1 draft, 1 future): 3 files written ..."."""
        c = self.content
        aside = [f"{c.drafts} draft{'s' if c.drafts != 1 else ''}"] if c.drafts else []
        if c.future:
            aside.append(f"{c.future} scheduled for later")
        posts = f"{len(c.posts)} post{'s' if len(c.posts) != 1 else ''}"
        if aside:
            posts += f" ({', '.join(aside)})"
        w = self.written
        tags = {f.path.split("/")[1] for f in self.feeds if f.path.startswith("tags/")}
        parts = [f"{len(w.written)} written", f"{len(w.unchanged)} unchanged"]
        if w.removed:
            parts.append(f"{len(w.removed)} removed")
        return (
            f"{posts}, {len(tags)} tag{'s' if len(tags) != 1 else ''}: "
            f"{len(self.feeds)} files ({', '.join(parts)}); "
            f"{c.rendered} rendered, {max(c.files - c.rendered, 0)} from cache; "
            f"{self.seconds:.2f} s"
        )


def check(settings: Settings, now: datetime) -> BuildReport:
    """Validate everything a build would touch, writing nothing. Raises ContentError."""
    start = time.perf_counter()
    content = load_content(settings, now, use_cache=True)
    feeds = build_feeds(settings, content.posts)
    feeds += read_assets(settings, content, feeds)
    written = write_outputs(settings.output_dir, feeds, _manifest(settings), dry_run=True)
    return BuildReport(content, feeds, written, time.perf_counter() - start)


def build(
    settings: Settings, now: datetime, *, jobs: int | None = None, dry_run: bool = False
) -> BuildReport:
    """Load every post and write the feeds atomically.

    Any content error raises before a single output file is touched, so a failed build leaves
    the previous outputs byte-for-byte as they were.
    """
    start = time.perf_counter()
    content = load_content(settings, now, jobs=jobs)
    feeds = build_feeds(settings, content.posts)
    feeds += read_assets(settings, content, feeds)
    written = write_outputs(settings.output_dir, feeds, _manifest(settings), dry_run=dry_run)
    return BuildReport(content, feeds, written, time.perf_counter() - start)


@dataclass(frozen=True, slots=True)
class PublishReport:
    """A build plus what the digest step did (None when digests are not set up)."""

    build: BuildReport
    digest: DigestReport | None

    @property
    def exit_code(self) -> int:
        """0 done; 3 when feeds were published but some recipients failed (PRODUCT.md)."""
        if self.digest is not None and self.digest.failed:
            return 3
        return 0


def publish(
    settings: Settings,
    now: datetime,
    *,
    dry_run: bool = False,
    force_digest: bool = False,
    skip_digest: bool = False,
    progress: ProgressCallback | None = None,
) -> PublishReport:
    """Build the feeds, then send the digest when it is due (or when forced).

    Feeds go out first: a digest links to posts whose feeds should already be live.
    """
    report = build(settings, now, dry_run=dry_run)
    if skip_digest:
        return PublishReport(report, None)
    from fieldfeed.digest import publish_digest

    digest = publish_digest(
        settings, now, report.content, force=force_digest, dry_run=dry_run, progress=progress
    )
    return PublishReport(report, digest)


def read_assets(
    settings: Settings, content: SiteContent, feeds: tuple[FeedFile, ...]
) -> tuple[FeedFile, ...]:
    """The content folder's non-post files (images, attachments), to publish beside the feeds.

    They keep their path inside the content folder, which is what relative links in posts were
    resolved to. A file that would overwrite a feed is not published.
    """
    taken = {f.path for f in feeds}
    prefix = settings.content_dir
    files = []
    for source in content.assets:
        path = settings.root / source
        rel = path.relative_to(prefix).as_posix()
        if rel in taken:
            continue
        files.append(FeedFile(rel, path.read_bytes()))
    return tuple(files)


def _manifest(settings: Settings) -> Path:
    """Where write_outputs remembers which files it wrote, to prune stale tag feeds."""
    return settings.state_dir / "outputs.json"
