"""``fieldfeed run``: rebuild the feeds on an interval and send the digest on its schedule.

Three layers, so the part that decides can be tested without a clock or a thread:

- :func:`plan` (pure) decides, from ``now``, the last issue's creation time, the cron
  expression, the site's timezone and the grace period, whether a digest is due now, was
  missed too long ago (stale: skipped, and said so), or is not due yet.
- :class:`Runner` does one job at a time for a given ``now``: ``start`` (build the feeds,
  then catch up a missed digest within grace, or resume an interrupted one), ``feeds`` and
  ``digest``. The jobs themselves go through :class:`RunnerJobs`, real ones by default, a
  small fake in tests.
- :meth:`Runner.run_forever` is the thin loop: APScheduler 3 (a BackgroundScheduler with an
  IntervalTrigger and the digest's CronTrigger in the site's timezone) only *announces* jobs on
  a queue, and the main thread runs them one after the other. Jobs never overlap, and a
  SIGTERM or Ctrl-C reaches the thread that sends.

"Was it sent" comes from the store (the last issue's creation time), never from APScheduler's
memory, so a restart knows what happened while it was down. One ``run`` per site: the runner
holds its own lock file for its lifetime, and each digest send takes the site's send lock
(:mod:`fieldfeed.lock`) that ``publish``/``digest send`` take too, so nothing sends twice in
parallel.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Protocol
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from fieldfeed.config import Settings
from fieldfeed.errors import FieldfeedError, LockedError
from fieldfeed.lock import site_lock
from fieldfeed.mail import schedule
from fieldfeed.pipeline import record_build

log = logging.getLogger(__name__)

#: Under the state folder: the folder of the lock that keeps to one ``run`` per site. (The
#: send lock, ``.fieldfeed/run.lock``, is taken per digest send and shared with ``publish``.)
RUNNER_LOCK_DIR = "runner"
#: After "another run is sending", try the digest again this much later.
LOCKED_RETRY = timedelta(minutes=1)


# --- the decision (pure) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do about the digest at one moment."""

    #: "send" (a scheduled time within grace has no issue yet), "skip" (the missed time is
    #: older than grace) or "wait" (nothing due).
    action: str
    #: The scheduled time this is about: the one to send, or the stale one skipped.
    slot: datetime | None
    #: The first scheduled time after ``now``.
    next_run: datetime
    #: One line for the log.
    reason: str


def plan(
    now: datetime,
    last_issue_created: datetime | None,
    expr: str,
    tz: ZoneInfo | str,
    grace: timedelta,
) -> Decision:
    """Whether the digest should go out at ``now``. Pure; all datetimes aware.

    A scheduled time counts as served when an issue was created at or after it. The latest
    unserved scheduled time at or before ``now`` is sent when it is at most ``grace`` old;
    an older one is skipped (the readers would get Monday's digest on Thursday) and the
    runner waits for the next. With no issue ever sent, only a time within grace is sent
    (a new site does not mail at the first start because a time passed long ago).
    """
    if now.tzinfo is None or (last_issue_created and last_issue_created.tzinfo is None):
        raise ValueError("plan needs aware datetimes")
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    upcoming = schedule.next_run(expr, zone, now)
    first_missed = schedule.next_run(expr, zone, last_issue_created) if last_issue_created else None
    if first_missed is not None and first_missed > now:
        return Decision("wait", None, upcoming, f"not due; next digest {_show(upcoming, zone)}")

    # The latest scheduled time in [now - grace, now] that is after the last issue.
    floor = now - grace - timedelta(microseconds=1)
    if last_issue_created is not None and last_issue_created > floor:
        floor = last_issue_created
    latest = _latest_slot(expr, zone, floor, now)
    if latest is not None:
        late = now - latest
        when = _show(latest, zone)
        reason = f"digest scheduled {when} is due" + (
            f" ({_duration(late)} late, within the {_duration(grace)} grace)"
            if late >= timedelta(minutes=1)
            else ""
        )
        return Decision("send", latest, upcoming, reason)
    if first_missed is None:
        return Decision(
            "wait", None, upcoming, f"no digest sent yet; first one {_show(upcoming, zone)}"
        )
    stale = _latest_slot(expr, zone, max(first_missed, now - grace - timedelta(days=35)), now)
    stale = stale or first_missed
    return Decision(
        "skip",
        stale,
        upcoming,
        f"skipped the digest scheduled {_show(stale, zone)}: missed by "
        f"{_duration(now - stale)}, more than the {_duration(grace)} grace; "
        f"next digest {_show(upcoming, zone)}",
    )


def _latest_slot(expr: str, zone: ZoneInfo, after: datetime, now: datetime) -> datetime | None:
    """The last scheduled time in (after, now], or None. Bounded walk (a minutely cron over
    a grace of hours is a few hundred steps)."""
    found: datetime | None = None
    slot = schedule.next_run(expr, zone, after)
    for _ in range(100_000):
        if slot > now:
            break
        found = slot
        slot = schedule.next_run(expr, zone, slot)
    return found


def _show(moment: datetime, zone: ZoneInfo) -> str:
    return schedule.describe(moment.astimezone(zone))


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


# --- the jobs ----------------------------------------------------------------------------------


class RunnerJobs(Protocol):
    """What the runner does; each method returns lines for the log."""

    def last_issue(self) -> tuple[datetime | None, bool]:
        """(creation time of the newest issue, whether an issue is unfinished)."""

    def build_feeds(self, now: datetime) -> list[str]:
        """Rebuild and write the feeds (no digest)."""

    def publish(self, now: datetime) -> list[str]:
        """Rebuild the feeds, then send (or finish) the digest. Raises LockedError when
        another run holds the send lock."""


class SiteJobs:
    """The real jobs: :mod:`fieldfeed.pipeline` and :mod:`fieldfeed.mail`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def last_issue(self) -> tuple[datetime | None, bool]:
        from fieldfeed.store import issues as store_issues
        from fieldfeed.store import open_store

        engine = open_store(self.settings.database_url)
        try:
            with engine.connect() as conn:
                last = store_issues.last_issue(conn)
                unfinished = store_issues.open_issue(conn)
        finally:
            engine.dispose()
        return (last.created if last else None), unfinished is not None

    def build_feeds(self, now: datetime) -> list[str]:
        from fieldfeed.pipeline import build

        report = build(self.settings, now)
        record_build(self.settings, now)
        return [f"feeds: {report.summary()}"]

    def publish(self, now: datetime) -> list[str]:
        from fieldfeed.pipeline import publish

        report = publish(self.settings, now)
        record_build(self.settings, now)
        lines = [f"feeds: {report.build.summary()}"]
        if report.digest is not None:
            lines.extend(report.digest.summary_lines())
        return lines


class SiteCronTrigger(BaseTrigger):  # type: ignore[misc]  # apscheduler 3 ships no types
    """An APScheduler 3 trigger whose times come from :func:`fieldfeed.mail.schedule.next_run`.

    ``schedule.next_run`` gets crontab semantics and DST right in the site's zone (it works
    around APScheduler 3.11 skipping months across DST changes), so the scheduler fires at
    exactly the times ``plan`` reasons about.
    """

    def __init__(self, expr: str, zone: ZoneInfo) -> None:
        self.expr = expr
        self.zone = zone
        schedule.next_run(expr, zone, datetime.now(UTC))  # ConfigError now, not later

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is None:
            return schedule.next_run(self.expr, self.zone, now - timedelta(microseconds=1))
        return schedule.next_run(self.expr, self.zone, previous_fire_time)

    def __str__(self) -> str:
        return f"cron[{self.expr!r}, {self.zone.key}]"


# --- one job at a time, for a given now --------------------------------------------------


class Runner:
    """The scheduler's brain: what to run at ``now``, and the log lines saying so."""

    def __init__(
        self,
        settings: Settings,
        *,
        jobs: RunnerJobs | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.jobs: RunnerJobs = jobs if jobs is not None else SiteJobs(settings)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.zone = settings.site.tz
        self.grace = timedelta(hours=settings.digest.grace_hours)
        self.interval = timedelta(minutes=max(1, settings.feeds.interval))
        #: When set, the loop should try the digest again then (another run held the lock).
        self.retry_at: datetime | None = None
        #: The job in progress ("feeds", "digest" or None): a stop signal during "digest"
        #: interrupts the sender, which finishes and records the message in flight.
        self.busy: str | None = None
        # Validate the cron expression now, not at the first fire.
        schedule.next_run(settings.digest.schedule, self.zone, datetime.now(UTC))

    @contextmanager
    def hold(self) -> Iterator[Path]:
        """One ``run`` per site: LockedError at once if another one is running."""
        with site_lock(self.settings.state_dir / RUNNER_LOCK_DIR) as path:
            yield path

    def decide(self, now: datetime) -> tuple[Decision, bool]:
        last, unfinished = self.jobs.last_issue()
        return plan(now, last, self.settings.digest.schedule, self.zone, self.grace), unfinished

    def start(self, now: datetime) -> Decision:
        """At start: build the feeds, then finish an interrupted issue or catch up a missed
        digest within grace (exactly once: the store says whether it went out)."""
        decision, unfinished = self.decide(now)
        if self.settings.digest.per_post:
            log.info("per-post mode: mailing any new post now")
            self._publish(now)
        elif unfinished:
            log.info("an unfinished digest issue was found: resuming it")
            self._publish(now)
        elif decision.action == "send":
            log.info("%s: sending it now", decision.reason)
            self._publish(now)
        else:
            log.info("%s", decision.reason)
            self.feeds(now)
        return decision

    def feeds(self, now: datetime) -> None:
        """The interval job: rebuild the feeds; in per-post mode also mail new posts (each is
        sent on the first run after it appears, not on the digest schedule)."""
        if self.settings.digest.per_post:
            self._publish(now)
            return
        self._run("feeds", lambda: self.jobs.build_feeds(now))

    def digest(self, now: datetime) -> Decision:
        """The cron job (and lock retries): send the digest if the plan says so."""
        decision, unfinished = self.decide(now)
        if unfinished or decision.action == "send":
            log.info("%s", "resuming the unfinished issue" if unfinished else decision.reason)
            self._publish(now)
        else:
            log.info("%s", decision.reason)
        return decision

    def _publish(self, now: datetime) -> None:
        try:
            self._run("digest", lambda: self.jobs.publish(now))
        except LockedError as exc:
            self.retry_at = now + LOCKED_RETRY
            log.warning("%s; trying the digest again at %s", exc, _show(self.retry_at, self.zone))
        else:
            self.retry_at = None

    def _run(self, name: str, job: Callable[[], list[str]]) -> None:
        self.busy = name
        try:
            for line in job():
                log.info("%s", line)
        except LockedError:
            raise
        except FieldfeedError as exc:
            # A broken post or an unreachable relay: say so, keep running, try next time.
            log.error("%s failed: %s", name, exc)
        finally:
            self.busy = None

    def next_runs(self, now: datetime) -> str:
        nxt = schedule.next_run(self.settings.digest.schedule, self.zone, now)
        return f"next: feeds every {_duration(self.interval)}, digest {_show(nxt, self.zone)}" + (
            f", digest retry {_show(self.retry_at, self.zone)}" if self.retry_at else ""
        )

    # --- the loop -------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event | None = None) -> None:
        """Run until SIGTERM/SIGINT (or ``stop``). Raises LockedError if another run is on.

        APScheduler's thread only puts job names on a queue; this (main) thread runs them.
        """
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.date import DateTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        stop = stop or threading.Event()
        jobs: queue.SimpleQueue[str] = queue.SimpleQueue()
        with self.hold(), self._signals(stop):
            log.info("fieldfeed run: site %s (pid %d)", self.settings.root, os.getpid())
            try:
                self.start(self.clock())
                scheduler = BackgroundScheduler(timezone=self.zone)
                scheduler.add_job(
                    jobs.put,
                    IntervalTrigger(minutes=int(self.interval.total_seconds() // 60)),
                    args=["feeds"],
                    id="feeds",
                    coalesce=True,
                    misfire_grace_time=None,
                )
                scheduler.add_job(
                    jobs.put,
                    SiteCronTrigger(self.settings.digest.schedule, self.zone),
                    args=["digest"],
                    id="digest",
                    coalesce=True,
                    misfire_grace_time=None,
                )
                scheduler.start()
                try:
                    log.info("%s", self.next_runs(self.clock()))
                    while not stop.is_set():
                        try:
                            name = jobs.get(timeout=0.5)
                        except queue.Empty:
                            continue
                        now = self.clock()
                        if name == "feeds":
                            self.feeds(now)
                        else:
                            self.digest(now)
                        if self.retry_at is not None:
                            scheduler.add_job(
                                jobs.put,
                                DateTrigger(self.retry_at),
                                args=["digest"],
                                id="digest-retry",
                                replace_existing=True,
                            )
                        if not stop.is_set():
                            log.info("%s", self.next_runs(self.clock()))
                finally:
                    scheduler.shutdown(wait=False)
            except KeyboardInterrupt:
                log.info(
                    "stopped while sending: the message in flight was finished and recorded; "
                    "the issue stays open and the next `fieldfeed run` (or `digest send`) "
                    "finishes it"
                )
            log.info("fieldfeed run: stopped")

    @contextmanager
    def _signals(self, stop: threading.Event) -> Iterator[None]:
        """SIGTERM and SIGINT: stop after the current job; during a digest send, interrupt
        the sender (it finishes and records the message in flight, then stops)."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach only the main thread; a test drives ``stop`` instead
            return

        def handler(signum: int, _frame: FrameType | None) -> None:
            first = not stop.is_set()
            stop.set()
            log.info("%s received: stopping", signal.Signals(signum).name)
            if self.busy == "digest" and first:
                # fieldfeed.mail.sending.send_all turns this into "finish the in-flight messages,
                # record them, stop"; the digest API has no stop hook to call instead.
                raise KeyboardInterrupt

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
