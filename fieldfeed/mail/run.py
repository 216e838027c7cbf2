"""The digest, start to end: pick the issue, freeze it, render once, send through the ledger.

Read :func:`publish_digest` top to bottom for the whole run. An issue is frozen (its posts,
one rendering per distinct post subset, and a ledger row per subscriber) in one transaction
before the first message goes out, and every send, first or resumed, reads the frozen issue
back, so a resumed send sends exactly what was started. Only one run per site sends at a time
(:mod:`fieldfeed.lock`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from fieldfeed.config import Settings
from fieldfeed.errors import DeliveryError
from fieldfeed.lock import site_lock
from fieldfeed.mail import schedule, tokens
from fieldfeed.mail.edge import (
    SendingEdge,
    envelope_sender,
    load_site_secret,
    send_policy,
    transport_factory,
)
from fieldfeed.mail.freezing import (
    NO_SUBSCRIBERS,
    PAGE,
    existing_store,
    freeze_next_issue,
    held_back,
    held_line,
    load_content_locked,
    load_history,
    message_template,
    no_posts_reason,
    plan_next_issue,
    rendered_from_dict,
)
from fieldfeed.mail.issues import PostHistory, posts_for
from fieldfeed.mail.report import DigestReport
from fieldfeed.mail.sending import Job, MessageResult, send_all
from fieldfeed.model import ProgressCallback, Subscriber
from fieldfeed.store import issues as store_issues
from fieldfeed.store import ledger as store_ledger
from fieldfeed.store import open_store
from fieldfeed.store import subscribers as store_subs

if TYPE_CHECKING:
    from fieldfeed.site.content import SiteContent


# --- the run -------------------------------------------------------------------------------


def publish_digest(
    settings: Settings,
    now: datetime,
    content: SiteContent | None,
    *,
    force: bool = False,
    dry_run: bool = False,
    include_old: bool = False,
    progress: ProgressCallback | None = None,
    lock_wait: float = 0.0,
    environ: Mapping[str, str] = os.environ,
) -> DigestReport:
    """Finish an interrupted issue, or send the next one if it is due (or ``force``).

    ``content`` is the site's loaded content (loaded here if None and needed). ``dry_run``
    reports what would be sent to whom and writes nothing. ``include_old`` also sends the
    posts held back as too old when first seen. ``lock_wait``: seconds to wait for another
    run of this site before LockedError. Raises FieldfeedError subclasses for what stops the
    whole run (no secret, bad login, relay unreachable after retries: the issue stays open and
    a rerun finishes it). The report names what is held back and when the next issue is due.
    """
    if dry_run:
        return _dry_run(settings, now, content, force=force, include_old=include_old)
    with site_lock(settings.state_dir, wait=lock_wait):
        # Secret and credentials first: a missing one must stop the run before anything is
        # frozen, not leave an open issue behind.
        edge = SendingEdge(
            *load_site_secret(settings, environ), transport_factory(settings, environ)
        )
        engine = open_store(settings.database_url)
        with engine.connect() as conn:
            unfinished = store_issues.open_issue(conn)
            last = store_issues.last_issue(conn)
            first = store_subs.first_joined(conn)
            history = load_history(conn)
        if settings.digest.per_post:
            # No schedule: the next publish/run after a post appears mails it.
            content = content if content is not None else load_content_locked(settings, now)
            held = _held(settings, last, content, now, history, include_old)
            report = _send_per_post(
                settings, engine, unfinished, content, now, progress, environ, edge, include_old
            )
            return replace(report, held=held)
        if unfinished is not None:
            report = send_issue(settings, engine, unfinished.number, now, progress, environ, edge)
            return replace(report, next_due=next_due_line(settings, unfinished.created, now, now))
        if not force:
            not_due = _not_due(settings, last, first, now)
            if not_due:
                held = _held(settings, last, content, now, history, include_old)
                return DigestReport(None, not_due, held=held)
        content = content if content is not None else load_content_locked(settings, now)
        held = _held(settings, last, content, now, history, include_old)
        number, reason = freeze_next_issue(
            settings, engine, content.posts, now, include_old=include_old
        )
        if number is None:
            created = last.created if last else None
            return DigestReport(
                None, reason, held=held, next_due=next_due_line(settings, created, first, now)
            )
        report = send_issue(settings, engine, number, now, progress, environ, edge)
        return replace(report, held=held, next_due=next_due_line(settings, now, now, now))


def _send_per_post(
    settings: Settings,
    engine: Engine,
    unfinished: store_issues.IssueRow | None,
    content: SiteContent | None,
    now: datetime,
    progress: ProgressCallback | None,
    environ: Mapping[str, str],
    edge: SendingEdge,
    include_old: bool = False,
) -> DigestReport:
    """Per-post mode: finish an interrupted post mail, then mail every new post, oldest first,
    each as its own issue (frozen, then sent, before the next is frozen). No schedule: the
    next ``publish``/``run`` after a post appears sends it. Call under the site lock."""
    reports: list[DigestReport] = []
    if unfinished is not None:
        reports.append(
            send_issue(settings, engine, unfinished.number, now, progress, environ, edge)
        )
    content = content if content is not None else load_content_locked(settings, now)
    while True:
        number, reason = freeze_next_issue(
            settings, engine, content.posts, now, include_old=include_old
        )
        if number is None:
            break
        reports.append(send_issue(settings, engine, number, now, progress, environ, edge))
    if not reports:
        return DigestReport(None, reason)
    return replace(reports[-1], earlier=tuple(reports[:-1]))


def send_digest(
    settings: Settings,
    now: datetime,
    content: SiteContent | None = None,
    *,
    include_old: bool = False,
    progress: ProgressCallback | None = None,
    lock_wait: float = 0.0,
    environ: Mapping[str, str] = os.environ,
) -> DigestReport:
    """``digest send``: finish an interrupted issue, else send the next one now."""
    return publish_digest(
        settings,
        now,
        content,
        force=True,
        include_old=include_old,
        progress=progress,
        lock_wait=lock_wait,
        environ=environ,
    )


def _held(
    settings: Settings,
    last: store_issues.IssueRow | None,
    content: SiteContent | None,
    now: datetime,
    history: PostHistory,
    include_old: bool,
) -> str:
    """The held-back line for the report ("" when none, or when they are being included)."""
    if content is None or include_old:
        return ""
    return held_line(held_back(settings, last, content.posts, now, history))


def first_issue_time(settings: Settings, first_joined: datetime) -> datetime:
    """The schedule's first time at or after the list's first subscriber joined."""
    tz = settings.site.tz
    return schedule.next_run(settings.digest.schedule, tz, first_joined - timedelta(microseconds=1))


def next_due_line(
    settings: Settings, last_created: datetime | None, first_joined: datetime | None, now: datetime
) -> str:
    """One line: when the next issue is due (it goes out then if a post is new)."""
    if last_created is None:
        if first_joined is None:
            return "next issue: at the schedule's first time after the list gets a subscriber"
        when = first_issue_time(settings, first_joined)
    else:
        when = schedule.next_run(settings.digest.schedule, settings.site.tz, last_created)
    if when <= now:
        return "next issue due now: the next publish with a new post sends it"
    return f"next issue due {schedule.describe(when.astimezone(settings.site.tz))}"


def _not_due(
    settings: Settings,
    last: store_issues.IssueRow | None,
    first_joined: datetime | None,
    now: datetime,
) -> str:
    """ "" when a digest is due, else why not.

    The first issue follows the schedule like every other: it is due at the schedule's first
    time after the list got its first subscriber, so importing a list and running ``publish``
    does not mail everyone at once.
    """
    tz = settings.site.tz
    if last is None:
        if first_joined is None:
            return ""  # freezing says "no active subscribers"
        when = first_issue_time(settings, first_joined)
        if when <= now:
            return ""
        joined = schedule.describe(first_joined.astimezone(tz))
        return (
            f"first issue not due until {schedule.describe(when.astimezone(tz))} (the "
            f"schedule's first time after the list's first subscriber, {joined}); "
            "`fieldfeed digest send` sends it now"
        )
    if schedule.is_due(settings.digest.schedule, tz, last.created, now):
        return ""
    nxt = schedule.next_run(settings.digest.schedule, tz, last.created)
    went = schedule.describe(last.created.astimezone(tz))
    return f"not due until {schedule.describe(nxt)} (issue #{last.number} went out {went})"


def _dry_run(
    settings: Settings,
    now: datetime,
    content: SiteContent | None,
    *,
    force: bool,
    include_old: bool = False,
) -> DigestReport:
    """What a real run would send, to whom. Opens no lock and writes nothing (no new DB)."""
    engine = existing_store(settings)
    subscribers: list[Subscriber] = []
    last = unfinished = first = None
    history = PostHistory()
    if engine is not None:
        with engine.connect() as conn:
            unfinished = store_issues.open_issue(conn)
            last = store_issues.last_issue(conn)
            first = store_subs.first_joined(conn)
            history = load_history(conn)
            subscribers = store_subs.active(conn)
            if unfinished is not None:
                left = store_ledger.unfinished(conn, unfinished.number)
                addresses = tuple(d.email for d in left)
                return DigestReport(
                    unfinished.number,
                    f"would finish issue #{unfinished.number}: {len(left)} recipient(s) left",
                    dry_run=True,
                    resumed=True,
                    would_send=len(left),
                    sample=addresses[:5],
                )
    if not force and not settings.digest.per_post:
        not_due = _not_due(settings, last, first, now)
        if not_due:
            held = _held(settings, last, content, now, history, include_old)
            return DigestReport(None, not_due, dry_run=True, held=held)
    content = content if content is not None else load_content_locked(settings, now)
    held = _held(settings, last, content, now, history, include_old)
    plan = plan_next_issue(settings, last, content.posts, now, history, include_old=include_old)
    if plan is None:
        return DigestReport(None, no_posts_reason(settings, last), dry_run=True, held=held)
    if not subscribers:
        return DigestReport(None, NO_SUBSCRIBERS, dry_run=True, held=held)
    receiving = [s.email for s in subscribers if posts_for(s, plan.posts)]
    return DigestReport(
        plan.number,
        f"would send issue #{plan.number} ({len(plan.posts)} post(s)"
        + (
            f"; {plan.left_out} carried to the next issue"
            if plan.left_out and not settings.digest.per_post
            else ""
        )
        + f") to {len(receiving)} subscriber(s)"
        + (
            f", then {plan.left_out} more post mail(s)"
            if settings.digest.per_post and plan.left_out
            else ""
        ),
        dry_run=True,
        held=held,
        would_send=len(receiving),
        skipped=len(subscribers) - len(receiving),
        sample=tuple(receiving[:5]),
    )


# --- sending -------------------------------------------------------------------------------


def send_issue(
    settings: Settings,
    engine: Engine,
    number: int,
    now: datetime,
    progress: ProgressCallback | None,
    environ: Mapping[str, str],
    edge: SendingEdge | None = None,
) -> DigestReport:
    """Send every unfinished ledger row of a frozen issue. Call under the site lock."""
    if edge is None:
        edge = SendingEdge(
            *load_site_secret(settings, environ), transport_factory(settings, environ)
        )
    secret, warnings = edge.secret, edge.warnings
    started = time.monotonic()
    clock = _clock(now, started)
    with engine.connect() as conn:
        issue, variants = store_issues.load_issue(conn, number)
        before = store_ledger.counts(conn, number)
        tried = store_ledger.attempted(conn, number)
    total = before.get("pending", 0) + before.get("sending", 0)
    resumed = tried or any(before.get(s, 0) for s in ("sending", "sent", "failed"))
    templates = {
        n: message_template(settings, rendered_from_dict(v.rendered), issue)
        for n, v in variants.items()
    }
    base = settings.digest.unsubscribe_url
    in_flight: list[str] = []

    def build(job: Job) -> bytes:
        variant = job.delivery.variant
        assert variant is not None
        url = tokens.unsubscribe_link(base, secret, job.subscriber.id)
        # Issued at the issue's time, so a resumed send writes the same bytes.
        prefs = tokens.preferences_link(
            base, secret, job.subscriber.id, int(issue.created.timestamp())
        )
        return templates[variant].build(job.subscriber, url, prefs)

    done = 0

    def on_result(_result: MessageResult) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    outcome = send_all(
        pending_jobs(engine, number, clock, in_flight),
        build=build,
        connect=edge.connect,
        ledger=store_ledger.Ledger(engine),
        envelope_from=envelope_sender(settings),
        policy=send_policy(settings),
        clock=clock,
        on_result=on_result,
    )
    with engine.begin() as conn:
        store_ledger.reset_bounces(conn, number)
        after = store_ledger.counts(conn, number)
        left = after.get("pending", 0) + after.get("sending", 0)
        if left == 0:
            store_issues.complete(conn, number, clock())
    failed_addresses = {r.delivery.email for r in outcome.failed}
    report = DigestReport(
        issue=number,
        reason=outcome.stopped or "",
        sent=outcome.sent,
        failed=tuple((r.delivery.email, r.reply) for r in outcome.failed),
        retried=outcome.retried,
        skipped=after.get("skipped", 0),
        in_flight_duplicates=tuple(a for a in in_flight if a not in failed_addresses),
        bounced=outcome.bounced,
        resumed=resumed,
        left=left,
        seconds=outcome.seconds,
        warnings=warnings,
    )
    if outcome.stopped:
        raise DeliveryError(
            "\n".join(report.summary_lines())
            + f"\nthe relay could not be reached ({outcome.stopped}); issue #{number} stays open"
        )
    return report


def pending_jobs(
    engine: Engine, number: int, clock: Callable[[], datetime], in_flight: list[str]
) -> Iterator[Job]:
    """The issue's unfinished rows with their subscribers, read in pages (flat memory).

    Rows found in ``sending`` were in flight when an earlier run died: they are sent again
    (same Message-ID) and their addresses collected in ``in_flight`` for the summary. Someone
    who left or bounced after the freeze is skipped.
    """
    after = 0
    while True:
        with engine.connect() as conn:
            rows = store_ledger.unfinished(conn, number, after_id=after, limit=PAGE)
            people = {s.id: s for s in store_subs.by_ids(conn, [r.subscriber for r in rows])}
        if not rows:
            return
        after = rows[-1].id
        gone: list[tuple[int, str]] = []
        for row in rows:
            sub = people.get(row.subscriber)
            if sub is None or sub.status != "active" or row.variant is None:
                gone.append((row.id, f"subscriber {sub.status if sub else 'deleted'} since freeze"))
                continue
            if row.status == "sending":
                in_flight.append(row.email)
            yield Job(row, sub)
        if gone:
            with engine.begin() as conn:
                for row_id, why in gone:
                    store_ledger.skip(conn, row_id, why, clock())


def _clock(now: datetime, started: float) -> Callable[[], datetime]:
    """Ledger timestamps: ``now`` plus elapsed monotonic time (no second wall-clock read)."""
    return lambda: now + timedelta(seconds=time.monotonic() - started)
