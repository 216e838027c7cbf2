"""The digest, start to end: pick the issue, freeze it, render once, send through the ledger.

Read :func:`publish_digest` top to bottom for the whole run. An issue is frozen (its posts,
one rendering per distinct post subset, and a ledger row per subscriber) in one transaction
before the first message goes out, and every send, first or resumed, reads the frozen issue
back, so a resumed send sends exactly what was started. Only one run per site sends at a time
(:mod:`fieldfeed.lock`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from fieldfeed import schedule, tokens
from fieldfeed.config import Settings
from fieldfeed.digest_render import RenderedIssue, personalize, render_issue, tag_filter_sentence
from fieldfeed.errors import ConfigError, DeliveryError, FieldfeedError
from fieldfeed.issues import IssuePlan, plan_issue, posts_for
from fieldfeed.lock import site_lock
from fieldfeed.message import MessageTemplate, default_list_id, message_id
from fieldfeed.model import Issue, Post, Subscriber
from fieldfeed.sending import Job, MessageResult, SendPolicy, send_all
from fieldfeed.store import issues as store_issues
from fieldfeed.store import ledger as store_ledger
from fieldfeed.store import open_store
from fieldfeed.store import subscribers as store_subs
from fieldfeed.store.issues import Variant
from fieldfeed.templating import template_env
from fieldfeed.transports import (
    MaildirTransport,
    SMTPTransport,
    TemporaryFailure,
    Transport,
)

if TYPE_CHECKING:
    from fieldfeed.content import SiteContent

log = logging.getLogger(__name__)

#: (messages done, total) after each message; the CLI draws a bar with it.
ProgressCallback = Callable[[int, int], None]
#: Seconds before the first retry of a 4xx or a dropped connection (tests set it small).
SAMPLE_READER = ("Sample Reader", "reader@example.org")
NO_SUBSCRIBERS = "no active subscribers (add some with `fieldfeed subscribers add`)"
#: Ledger rows read per query while sending.
PAGE = 500


@dataclass(frozen=True, slots=True)
class DigestReport:
    """What a digest run did (or, dry, would do). Per-recipient failures are values here."""

    #: The issue sent, resumed or planned; None when there was nothing to send.
    issue: int | None
    #: One line for people: "no new posts since issue #3", "not due until Mon ...", ...
    reason: str
    sent: int = 0
    #: (address, server reply) of each recipient that could not be delivered.
    failed: tuple[tuple[str, str], ...] = ()
    retried: int = 0
    #: Subscribers whose tag filter matched no post of the issue (no mail, by design).
    skipped: int = 0
    #: Recipients whose message was in flight when an earlier run died and who were sent it
    #: again (same Message-ID): they may have two copies.
    in_flight_duplicates: tuple[str, ...] = ()
    #: Addresses that became ``bounced`` (second hard bounce in a row) in this run.
    bounced: tuple[str, ...] = ()
    resumed: bool = False
    #: Messages left for a rerun (the relay went away); the issue stays open.
    left: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    #: Dry run: how many would get a message, and the first few addresses.
    would_send: int = 0
    sample: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        """3 when some recipients could not be delivered (PRODUCT.md), else 0."""
        return 3 if self.failed else 0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def summary_lines(self) -> list[str]:
        """The end-of-run summary, one fact per line."""
        lines = list(self.warnings)
        if self.issue is None or (self.dry_run and not self.would_send):
            return [*lines, f"digest: {self.reason}"]
        if self.dry_run:
            shown = ", ".join(self.sample) + (", ..." if self.would_send > len(self.sample) else "")
            return [*lines, f"digest: {self.reason}", f"  would send to: {shown}"]
        lines.append(
            f"digest #{self.issue}{' (resumed)' if self.resumed else ''}: {self.sent} sent, "
            f"{len(self.failed)} failed, {self.retried} retried, {self.skipped} skipped; "
            f"{self.seconds:.1f}s, {self.rate:.0f} msgs/s"
        )
        if self.in_flight_duplicates:
            lines.append(
                f"  resent {len(self.in_flight_duplicates)} message(s) that were in flight when "
                "the last run stopped (the recipient may have two copies, same Message-ID): "
                + ", ".join(self.in_flight_duplicates)
            )
        lines.extend(f"  failed: {address}: {reply}" for address, reply in self.failed)
        if self.bounced:
            lines.append("  now bounced (two hard bounces in a row): " + ", ".join(self.bounced))
        if self.left:
            lines.append(
                f"  {self.left} message(s) not sent yet: {self.reason}; "
                "run `fieldfeed digest send` to finish the issue"
            )
        return lines


@dataclass(frozen=True, slots=True)
class SendingEdge:
    """What a send takes from the environment, read once before anything is frozen."""

    secret: bytes = dataclasses.field(repr=False)
    warnings: tuple[str, ...]
    connect: Callable[[], Transport] = dataclasses.field(repr=False)


# --- the run -------------------------------------------------------------------------------


def publish_digest(
    settings: Settings,
    now: datetime,
    content: SiteContent | None,
    *,
    force: bool = False,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
    lock_wait: float = 0.0,
    environ: Mapping[str, str] = os.environ,
) -> DigestReport:
    """Finish an interrupted issue, or send the next one if it is due (or ``force``).

    ``content`` is the site's loaded content (loaded here if None and needed). ``dry_run``
    reports what would be sent to whom and writes nothing. ``lock_wait``: seconds to wait for
    another run of this site before LockedError. Raises FieldfeedError subclasses for what
    stops the whole run (no secret, bad login, relay unreachable after retries: the issue
    stays open and a rerun finishes it).
    """
    if dry_run:
        return _dry_run(settings, now, content, force=force)
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
        if unfinished is not None:
            return send_issue(settings, engine, unfinished.number, now, progress, environ, edge)
        if not force:
            not_due = _not_due(settings, last, now)
            if not_due:
                return DigestReport(None, not_due)
        content = content if content is not None else _load_content(settings, now)
        number, reason = freeze_next_issue(settings, engine, content.posts, now)
        if number is None:
            return DigestReport(None, reason)
        return send_issue(settings, engine, number, now, progress, environ, edge)


def send_digest(
    settings: Settings,
    now: datetime,
    content: SiteContent | None = None,
    *,
    progress: ProgressCallback | None = None,
    lock_wait: float = 0.0,
    environ: Mapping[str, str] = os.environ,
) -> DigestReport:
    """``digest send``: finish an interrupted issue, else send the next one now."""
    return publish_digest(
        settings, now, content, force=True, progress=progress, lock_wait=lock_wait, environ=environ
    )


def _not_due(settings: Settings, last: store_issues.IssueRow | None, now: datetime) -> str:
    """ "" when a digest is due, else why not."""
    tz = settings.site.tz
    if schedule.is_due(settings.digest.schedule, tz, last.created if last else None, now):
        return ""
    assert last is not None
    nxt = schedule.next_run(settings.digest.schedule, tz, last.created)
    went = schedule.describe(last.created.astimezone(tz))
    return f"not due until {schedule.describe(nxt)} (issue #{last.number} went out {went})"


def _no_posts_reason(settings: Settings, last: store_issues.IssueRow | None) -> str:
    if last is None:
        return f"no posts in the last {settings.digest.first_window_days} days: no issue"
    return f"no new posts since issue #{last.number}"


def _dry_run(
    settings: Settings, now: datetime, content: SiteContent | None, *, force: bool
) -> DigestReport:
    """What a real run would send, to whom. Opens no lock and writes nothing (no new DB)."""
    engine = _existing_store(settings)
    subscribers: list[Subscriber] = []
    last = unfinished = None
    if engine is not None:
        with engine.connect() as conn:
            unfinished = store_issues.open_issue(conn)
            last = store_issues.last_issue(conn)
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
    if not force:
        not_due = _not_due(settings, last, now)
        if not_due:
            return DigestReport(None, not_due, dry_run=True)
    content = content if content is not None else _load_content(settings, now)
    plan = _plan(settings, last, content.posts, now)
    if plan is None:
        return DigestReport(None, _no_posts_reason(settings, last), dry_run=True)
    if not subscribers:
        return DigestReport(None, NO_SUBSCRIBERS, dry_run=True)
    receiving = [s.email for s in subscribers if posts_for(s, plan.posts)]
    return DigestReport(
        plan.number,
        f"would send issue #{plan.number} ({len(plan.posts)} post(s)) to "
        f"{len(receiving)} subscriber(s)",
        dry_run=True,
        would_send=len(receiving),
        skipped=len(subscribers) - len(receiving),
        sample=tuple(receiving[:5]),
    )


def _plan(
    settings: Settings, last: store_issues.IssueRow | None, posts: tuple[Post, ...], now: datetime
) -> IssuePlan | None:
    return plan_issue(
        posts,
        last_number=last.number if last else 0,
        previous_cutoff=last.cutoff if last else None,
        now=now,
        max_posts=settings.digest.max_posts,
        first_window_days=settings.digest.first_window_days,
    )


# --- freezing ------------------------------------------------------------------------------


def freeze_next_issue(
    settings: Settings, engine: Engine, posts: tuple[Post, ...], now: datetime
) -> tuple[int | None, str]:
    """Freeze the next issue: posts, renderings and ledger rows, in one transaction.

    Subscribers are read and their ledger rows written in pages, so memory stays flat however
    long the list. Returns (issue number, "") or (None, why there is no issue). Call under the
    site lock.
    """
    with engine.begin() as conn:
        last = store_issues.last_issue(conn)
        plan = _plan(settings, last, posts, now)
        if plan is None:
            return None, _no_posts_reason(settings, last)
        if not store_subs.active_page(conn, after_id=0, limit=1):
            # Freezing now would use the posts up on nobody; keep them for the first readers.
            return None, NO_SUBSCRIBERS
        issue = Issue(number=plan.number, cutoff=plan.cutoff, created=now, posts=plan.posts)
        env = template_env(settings)
        since = last.cutoff if last else None
        variants: dict[tuple[str, ...], int] = {}

        def variant_for(chosen: tuple[Post, ...]) -> int:
            key = tuple(p.id for p in chosen)
            if key not in variants:
                rendered = render_issue(
                    settings,
                    env,
                    issue,
                    chosen,
                    since=since,
                    archive_url=settings.digest.issue_archive_url(issue.number),
                )
                number = variants[key] = len(variants)
                variant = Variant(number, key, rendered_to_dict(rendered))
                store_issues.insert_variant(conn, issue.number, variant)
            return variants[key]

        store_issues.insert_issue(conn, issue, ())
        # The full issue first: most readers get it, and its template names the domain.
        full = variant_for(issue.posts)
        domain = _template(
            settings, rendered_from_dict(_variant_dict(conn, issue, full)), issue
        ).domain
        rows = sendable = 0
        after = 0
        while page := store_subs.active_page(conn, after_id=after, limit=PAGE):
            after = page[-1].id
            new_rows = []
            for sub in page:
                chosen = posts_for(sub, issue.posts)
                variant = variant_for(chosen) if chosen else None
                mid = message_id(issue.number, sub.id, domain)
                new_rows.append(store_ledger.NewDelivery(sub.id, sub.email, variant, mid))
                sendable += variant is not None
            rows += store_ledger.insert(conn, issue.number, new_rows, now)
        if not sendable:
            store_issues.complete(conn, issue.number, now)
    log.info(
        "froze issue #%d: %d posts, %d variants, %d rows",
        issue.number,
        len(issue.posts),
        len(variants),
        rows,
    )
    return issue.number, ""


def _variant_dict(conn: Connection, issue: Issue, number: int) -> dict[str, Any]:
    return store_issues.load_variant(conn, issue.number, number).rendered


def rendered_to_dict(rendered: RenderedIssue) -> dict[str, Any]:
    return {f.name: getattr(rendered, f.name) for f in dataclasses.fields(rendered)}


def rendered_from_dict(data: Mapping[str, Any]) -> RenderedIssue:
    values: dict[str, Any] = {
        f.name: tuple(data[f.name]) if isinstance(data[f.name], list) else data[f.name]
        for f in dataclasses.fields(RenderedIssue)
    }
    return RenderedIssue(**values)


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
        n: _template(settings, rendered_from_dict(v.rendered), issue) for n, v in variants.items()
    }
    base = settings.digest.unsubscribe_url
    in_flight: list[str] = []

    def build(job: Job) -> bytes:
        variant = job.delivery.variant
        assert variant is not None
        url = tokens.unsubscribe_link(base, secret, job.subscriber.id)
        return templates[variant].build(job.subscriber, url)

    done = 0

    def on_result(_result: MessageResult) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    outcome = send_all(
        _jobs(engine, number, clock, in_flight),
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


def _jobs(
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
            people = {s.id: s for s in _subscribers(conn, [r.subscriber for r in rows])}
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


def _subscribers(conn: Connection, ids: list[int]) -> list[Subscriber]:
    from fieldfeed.store.schema import subscribers as t

    found: list[Subscriber] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for row in conn.execute(sa.select(t).where(t.c.id.in_(chunk))):
            found.append(store_subs._to_model(row))
    return found


def _clock(now: datetime, started: float) -> Callable[[], datetime]:
    """Ledger timestamps: ``now`` plus elapsed monotonic time (no second wall-clock read)."""
    return lambda: now + timedelta(seconds=time.monotonic() - started)


def _template(
    settings: Settings, rendered: RenderedIssue, issue: Issue, *, test: bool = False
) -> MessageTemplate:
    return MessageTemplate(settings, rendered, issue, list_id=default_list_id(settings), test=test)


def _domain(settings: Settings) -> str:
    address = parseaddr(settings.digest.sender)[1] or settings.site.email
    return address.rpartition("@")[2] or "localhost"


def envelope_sender(settings: Settings) -> str:
    """The SMTP MAIL FROM (where bounces go): the address of ``[digest] from``."""
    return parseaddr(settings.digest.sender)[1] or settings.site.email


def send_policy(settings: Settings) -> SendPolicy:
    """How hard to push and how long to back off, from ``[delivery]``."""
    d = settings.delivery
    return SendPolicy(
        concurrency=d.concurrency,
        rate_limit=d.rate_limit,
        max_attempts=max(1, d.max_attempts),
        backoff_base=d.retry_base,
        backoff_cap=max(d.retry_base, d.retry_cap),
    )


def transport_factory(
    settings: Settings, environ: Mapping[str, str] = os.environ
) -> Callable[[], Transport]:
    """A function making one unconnected transport (one per sending thread)."""
    d = settings.delivery
    if d.transport == "maildir":
        path = settings.root / d.maildir
        return lambda: MaildirTransport(path)
    password: str | None = None
    if d.username:
        password = environ.get(d.password_env, "")
        if not password:
            raise ConfigError(
                f"[delivery] username is set but the environment variable {d.password_env} "
                "(named by password_env) is empty"
            )
    return lambda: SMTPTransport(d, password)


def load_site_secret(
    settings: Settings, environ: Mapping[str, str] = os.environ
) -> tuple[bytes, tuple[str, ...]]:
    """The key that signs unsubscribe links, and any warning to show.

    FIELDFEED_SECRET when set. Without it, the Maildir transport (a local demo) falls back to a
    random per-site secret kept in ``.fieldfeed/secret`` (0600), made once with a warning;
    SMTP (real mail to real people) requires the variable. ``fieldfeed serve`` must verify
    with the same key, so it should call this too.
    """
    if environ.get(tokens.SECRET_ENV, "").strip() or settings.delivery.transport != "maildir":
        return tokens.load_secret(environ), ()
    path = settings.state_dir / "secret"
    if path.exists():
        return path.read_bytes().strip(), ()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_urlsafe(32) + "\n")
    return path.read_bytes().strip(), (
        f"warning: {tokens.SECRET_ENV} is not set; made a per-site secret in {path} for "
        "unsubscribe links. Set the variable before sending over SMTP",
    )


def _existing_store(settings: Settings) -> Engine | None:
    """The store if it exists already (a dry run must not create a database)."""
    url = sa.make_url(settings.database_url)
    db = url.database or ""
    if url.get_backend_name() == "sqlite" and db not in ("", ":memory:") and not Path(db).exists():
        return None
    return open_store(settings.database_url)


def _load_content(settings: Settings, now: datetime) -> SiteContent:
    from fieldfeed.content import load_content

    return load_content(settings, now)


# --- previews and test sends ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Preview:
    """Files written by :func:`write_preview`."""

    issue: int
    subscriber: str
    html: Path
    text: Path
    eml: Path


def _next_for_preview(
    settings: Settings, now: datetime, content: SiteContent | None
) -> tuple[Issue, datetime | None] | None:
    """The open issue as frozen, else the one that would be frozen now; nothing is written."""
    engine = _existing_store(settings)
    last = None
    if engine is not None:
        with engine.connect() as conn:
            unfinished = store_issues.open_issue(conn)
            if unfinished is not None:
                issue, _ = store_issues.load_issue(conn, unfinished.number)
                return issue, store_issues.previous_cutoff(conn, unfinished.number)
            last = store_issues.last_issue(conn)
    content = content if content is not None else _load_content(settings, now)
    plan = _plan(settings, last, content.posts, now)
    if plan is None:
        return None
    issue = Issue(number=plan.number, cutoff=plan.cutoff, created=now, posts=plan.posts)
    return issue, (last.cutoff if last else None)


def sample_subscriber(settings: Settings, now: datetime) -> Subscriber:
    """The first active subscriber, else a made-up "Sample Reader <reader@example.org>"."""
    engine = _existing_store(settings)
    if engine is not None:
        with engine.connect() as conn:
            first = store_subs.active_page(conn, after_id=0, limit=1)
        if first:
            return first[0]
    name, email = SAMPLE_READER
    return Subscriber(id=0, email=email, name=name, tags=(), status="active", created=now)


def write_preview(
    settings: Settings,
    now: datetime,
    content: SiteContent | None,
    out_dir: Path,
    *,
    environ: Mapping[str, str] = os.environ,
) -> Preview | str:
    """Write the next issue as HTML, text and .eml for a sample subscriber; freezes nothing.

    Returns the paths, or why there is no next issue.
    """
    found = _next_for_preview(settings, now, content)
    if found is None:
        engine = _existing_store(settings)
        last = None
        if engine is not None:
            with engine.connect() as conn:
                last = store_issues.last_issue(conn)
        return _no_posts_reason(settings, last)
    issue, since = found
    sub = sample_subscriber(settings, now)
    rendered = _render_as(settings, issue, since, sub)
    secret = _preview_secret(settings, environ)
    url = tokens.unsubscribe_link(settings.digest.unsubscribe_url, secret, sub.id)
    tag_names = {t.slug: t.name for p in issue.posts for t in p.tags}
    html, text = personalize(rendered, sub, url, tag_filter_sentence(sub, tag_names))
    eml = _template(settings, rendered, issue).build(sub, url)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"issue-{issue.number}"
    paths = (stem.with_suffix(".html"), stem.with_suffix(".txt"), stem.with_suffix(".eml"))
    paths[0].write_text(html, encoding="utf-8")
    paths[1].write_text(text, encoding="utf-8")
    paths[2].write_bytes(eml)
    return Preview(issue.number, sub.email, *paths)


def _render_as(
    settings: Settings, issue: Issue, since: datetime | None, sub: Subscriber
) -> RenderedIssue:
    """``issue`` as ``sub`` gets it: their tag filter applied (every post when none match)."""
    posts = posts_for(sub, issue.posts) or issue.posts
    return render_issue(
        settings,
        template_env(settings),
        issue,
        posts,
        since=since,
        archive_url=settings.digest.issue_archive_url(issue.number),
    )


def _preview_secret(settings: Settings, environ: Mapping[str, str]) -> bytes:
    """A preview needs a link that looks real, not a real key: never create the key file."""
    try:
        if environ.get(tokens.SECRET_ENV, "").strip():
            return tokens.load_secret(environ)
        path = settings.state_dir / "secret"
        if path.exists():
            return path.read_bytes().strip()
    except (OSError, FieldfeedError):
        pass
    return b"preview-only-not-a-real-secret-0000000000"


def send_test(
    settings: Settings,
    now: datetime,
    content: SiteContent | None,
    to: str,
    *,
    environ: Mapping[str, str] = os.environ,
) -> str:
    """Send the next issue to one address as "[TEST] ..."; nothing is recorded.

    Returns a line for the user. Raises DeliveryError when it could not be delivered.
    """
    address = store_subs.normalize_email(to)
    found = _next_for_preview(settings, now, content)
    if found is None:
        return f"nothing to test: {_no_posts_reason(settings, None)}"
    issue, since = found
    existing = None
    engine = _existing_store(settings)
    if engine is not None:
        existing = store_subs.get(engine, address)
    sub = existing or Subscriber(
        id=0, email=address, name="", tags=(), status="active", created=now
    )
    rendered = _render_as(settings, issue, since, sub)
    secret, _warnings = load_site_secret(settings, environ)
    url = tokens.unsubscribe_link(settings.digest.unsubscribe_url, secret, sub.id)
    message = _template(settings, rendered, issue, test=True).build(sub, url)
    transport = transport_factory(settings, environ)()
    policy = send_policy(settings)
    try:
        for tries in range(1, policy.max_attempts + 1):
            try:
                reply = transport.send(envelope_sender(settings), address, message)
                return f"test copy of issue #{issue.number} sent to {address}: {reply}"
            except TemporaryFailure as exc:
                if tries == policy.max_attempts:
                    raise DeliveryError(f"test send to {address}: {exc.reply}") from None
                time.sleep(policy.backoff(tries))
            except Exception as exc:
                reply = getattr(exc, "reply", str(exc))
                raise DeliveryError(f"test send to {address}: {reply}") from None
    finally:
        transport.close()
    raise DeliveryError(f"test send to {address}: not sent")
