"""The whole job in one readable place: load -> build feeds -> write atomically -> digest.

The CLI and the scheduler call these functions; neither reimplements a step. The clock is
passed in (``now``), so a run is reproducible.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fieldfeed.config import Settings
from fieldfeed.errors import ContentError, Problem, StateError
from fieldfeed.feeds.build import FeedFile, FeedSpec, build_feeds, feeds_fingerprint, plan_feeds
from fieldfeed.feeds.outputs import (
    WriteReport,
    published_files,
    remove_leftover_temps,
    write_file_atomic,
    write_outputs,
)
from fieldfeed.lock import build_lock
from fieldfeed.model import ProgressCallback
from fieldfeed.site.content import SiteContent, load_content
from fieldfeed.site.files import read_content_file

if TYPE_CHECKING:
    from fieldfeed.mail import DigestReport

log = logging.getLogger(__name__)

#: Under the state folder: when the feeds were last built (by ``run``), for /health.
LAST_BUILD_FILE = "last-build.json"


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What a build read and wrote."""

    content: SiteContent
    #: Every output file's path (feeds, stylesheet, assets), relative to the output folder.
    files: tuple[str, ...]
    written: WriteReport
    seconds: float
    #: True when nothing had changed since the last build, so no file was even regenerated.
    skipped: bool = False

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
        tags = {p.split("/")[1] for p in self.files if p.startswith("tags/") and p.count("/") == 2}
        parts = [f"{len(w.written)} written", f"{len(w.unchanged)} unchanged"]
        if w.removed:
            parts.append(f"{len(w.removed)} removed")
        return (
            f"{posts}, {len(tags)} tag{'s' if len(tags) != 1 else ''}: "
            f"{len(self.files)} files ({', '.join(parts)}); "
            f"{c.rendered} rendered, {max(c.files - c.rendered, 0)} from cache; "
            f"{self.seconds:.2f} s"
        )


def check(settings: Settings, now: datetime) -> BuildReport:
    """Validate everything a publish would touch (posts, feeds, the digest's templates),
    writing nothing. Raises ContentError or TemplateProblem."""
    return build(settings, now, dry_run=True, verify=_digest_templates(settings, now))


def build(
    settings: Settings,
    now: datetime,
    *,
    jobs: int | None = None,
    dry_run: bool = False,
    verify: Callable[[SiteContent], None] | None = None,
) -> BuildReport:
    """Load every post and write the feeds atomically.

    Any content error raises before a single output file is touched, so a failed build leaves
    the previous outputs byte-for-byte as they were. When nothing that shapes the outputs has
    changed since the last build and they are all in place, nothing is regenerated.

    One build per site at a time (:func:`fieldfeed.lock.build_lock`): a second one waits for
    the first, because two would prune each other's cache bodies and temp files.
    """
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(build_lock(settings.state_dir))
        except StateError:
            if not dry_run:
                raise
            # `check` on a read-only checkout (CI): it writes nothing we would need to guard.
        return _build_locked(settings, now, start, jobs=jobs, dry_run=dry_run, verify=verify)


def _build_locked(
    settings: Settings,
    now: datetime,
    start: float,
    *,
    jobs: int | None,
    dry_run: bool,
    verify: Callable[[SiteContent], None] | None,
) -> BuildReport:
    """:func:`build`'s steps, run while holding the site's build lock."""
    content = load_content(settings, now, jobs=jobs)
    if verify is not None:  # e.g. the digest's templates: fail before any output is touched
        verify(content)
    specs = plan_feeds(settings, content.posts)  # once: the fingerprint and the feeds share it
    fingerprint = outputs_fingerprint(settings, content, specs)
    stamp = settings.state_dir / "outputs.fingerprint"
    if not dry_run and _read_text(stamp) == fingerprint:
        existing = published_files(settings.output_dir, _manifest(settings))
        if existing is not None:
            written = WriteReport(written=(), unchanged=existing, removed=())
            return BuildReport(content, existing, written, time.perf_counter() - start, True)
    feeds = build_feeds(settings, content.posts, specs=specs)
    feeds += read_assets(settings, content, feeds)
    written = write_outputs(settings.output_dir, feeds, _manifest(settings), dry_run=dry_run)
    if not dry_run:
        _write_text(stamp, fingerprint)
    files = tuple(f.path for f in feeds)
    return BuildReport(content, files, written, time.perf_counter() - start)


def outputs_fingerprint(
    settings: Settings, content: SiteContent, specs: Sequence[FeedSpec] | None = None
) -> str:
    """The feeds' fingerprint plus the assets' paths, sizes and mtimes and the output folder."""
    parts = [
        feeds_fingerprint(settings, content.posts, specs=specs),
        str(settings.output_dir.resolve()),
    ]
    for source in content.assets:
        try:
            st = (settings.root / source).stat()
        except OSError:
            parts.append(f"{source}:missing")
            continue
        parts.append(f"{source}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PublishReport:
    """A build plus what the digest step did (None when digests are not set up)."""

    build: BuildReport
    digest: DigestReport | None

    @property
    def exit_code(self) -> int:
        """0 done; 3 when feeds were published but some recipients failed (PRODUCT.md)."""
        return self.digest.exit_code if self.digest is not None else 0


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

    Feeds go out first: a digest links to posts whose feeds should already be live. A digest
    template that does not compile stops the run before anything is written.
    """
    verify = None if skip_digest else _digest_templates(settings, now, sending=not dry_run)
    report = build(settings, now, dry_run=dry_run, verify=verify)
    if skip_digest:
        return PublishReport(report, None)
    from fieldfeed.mail import publish_digest

    digest = publish_digest(
        settings, now, report.content, force=force_digest, dry_run=dry_run, progress=progress
    )
    return PublishReport(report, digest)


def _digest_templates(
    settings: Settings, now: datetime, *, sending: bool = False
) -> Callable[[SiteContent], None]:
    """Compile every template, then render a sample issue: raises TemplateProblem.

    ``sending``: also read what a send takes from the environment (the signing secret, the
    SMTP password), so an unusable secret stops ``publish`` before a single feed is written
    (exit 1 means nothing was published) instead of after the feeds went out.
    """

    def verify(content: SiteContent) -> None:
        from fieldfeed.mail.render import trial_render  # jinja2/premailer: digest runs only
        from fieldfeed.mail.templating import ensure_templates, template_env

        ensure_templates(settings)
        trial_render(settings, template_env(settings), content.posts, now)
        if sending:
            from fieldfeed.mail import check_sending_setup

            check_sending_setup(settings)

    return verify


def read_assets(
    settings: Settings, content: SiteContent, feeds: tuple[FeedFile, ...]
) -> tuple[FeedFile, ...]:
    """The content folder's non-post files (images, attachments), to publish beside the feeds.

    They keep their path inside the content folder, which is what relative links in posts were
    resolved to. A file that would overwrite a feed is not published. Read through
    :func:`~fieldfeed.site.files.read_content_file`, so nothing from outside the content
    folder is ever published; a file that cannot be read is a ContentError naming it.
    """
    taken = {f.path for f in feeds}
    prefix = settings.content_dir
    root = os.path.realpath(prefix)
    files = []
    problems = []
    for source in content.assets:
        path = settings.root / source
        rel = path.relative_to(prefix).as_posix()
        if rel in taken:
            continue
        try:
            files.append(FeedFile(rel, read_content_file(path, root)))
        except OSError as exc:
            problems.append(Problem(source, 0, f"cannot read: {exc.strerror or exc}"))
    if problems:
        raise ContentError(tuple(problems))
    return tuple(files)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _write_text(path: Path, text: str) -> None:
    """Atomically: a crash leaves the old stamp (so the next build redoes the work) or the new.
    Through a unique temp name (a fixed one made two concurrent builds crash), whose
    leftovers, and the fixed name older versions used, the next write removes."""
    remove_leftover_temps([path])
    path.with_name(path.name + ".tmp").unlink(missing_ok=True)
    write_file_atomic(path, text.encode("utf-8"))


def _manifest(settings: Settings) -> Path:
    """Where write_outputs remembers which files it wrote, to prune stale tag feeds."""
    return settings.state_dir / "outputs.json"


# --- the last build, for /health --------------------------------------------------------------


def record_build(settings: Settings, when: datetime) -> None:
    """Remember ``when`` as the last successful build (atomically; never raises for IO)."""
    path = settings.state_dir / LAST_BUILD_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".last-build-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"time": when.isoformat()}, fh)
        os.replace(tmp, path)
    except OSError:
        log.warning("could not record the build time in %s", path)


def last_build(settings: Settings) -> datetime | None:
    """When the feeds were last built: ``run``'s record, else the output manifest's mtime."""
    path = settings.state_dir / LAST_BUILD_FILE
    try:
        value = datetime.fromisoformat(json.loads(path.read_text(encoding="utf-8"))["time"])
        if value.tzinfo is not None:
            return value
    except (OSError, ValueError, KeyError, TypeError):
        pass
    manifest = settings.state_dir / "outputs.json"
    try:
        return datetime.fromtimestamp(manifest.stat().st_mtime, UTC)
    except OSError:
        return None
