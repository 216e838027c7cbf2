"""The next issue: planned from the posts and the store, then frozen in one transaction.

Freezing writes the issue's posts, one rendering per distinct post subset (each subscriber's
tag filter chooses theirs) and a ledger row per subscriber before the first message goes out.
Every send, first or resumed, reads the frozen issue back, so a resumed send sends exactly what
was started. Dry runs and previews plan the same issue without writing anything.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from fieldfeed.config import Settings
from fieldfeed.mail.issues import (
    IssuePlan,
    PostHistory,
    issue_marks,
    new_posts,
    plan_issue,
    posts_for,
    window_start,
)
from fieldfeed.mail.message import MessageTemplate, default_list_id, message_id
from fieldfeed.mail.render import RenderedIssue, render_issue
from fieldfeed.mail.templating import template_env
from fieldfeed.model import Issue, Post
from fieldfeed.store import issues as store_issues
from fieldfeed.store import ledger as store_ledger
from fieldfeed.store import open_store
from fieldfeed.store import postmarks as store_marks
from fieldfeed.store import subscribers as store_subs
from fieldfeed.store.issues import Variant

if TYPE_CHECKING:
    from fieldfeed.site.content import SiteContent

# Not this module's name: `fieldfeed run` turns "fieldfeed.digest" up, and log lines keep
# naming the digest as they did before the code moved into fieldfeed.mail (so the sending
# module's retry lines, under fieldfeed.mail.sending, stay out of run's output as before).
log = logging.getLogger("fieldfeed.digest")

NO_SUBSCRIBERS = "no active subscribers (add some with `fieldfeed subscribers add`)"
#: Ledger rows read per query while sending.
PAGE = 500


def load_history(conn: Connection) -> PostHistory:
    """The post marks of every earlier issue (one short row per post)."""
    return PostHistory.from_marks(store_marks.load_marks(conn))


def plan_next_issue(
    settings: Settings,
    last: store_issues.IssueRow | None,
    posts: tuple[Post, ...],
    now: datetime,
    history: PostHistory,
    *,
    include_old: bool = False,
) -> IssuePlan | None:
    """The issue after ``last`` from the settings' limits, or None when no post is new.

    Both ``[digest] mode``s use this one rule (:func:`fieldfeed.mail.issues.new_posts`): a
    per-post issue is a digest of one post."""
    return plan_issue(
        posts,
        history,
        last_number=last.number if last else 0,
        last_created=last.created if last else None,
        now=now,
        # Per-post mode is the same rule one post at a time: the oldest new post is the issue,
        # the others are carried and go first, one per issue, in the same run.
        max_posts=1 if settings.digest.per_post else settings.digest.max_posts,
        first_window_days=settings.digest.first_window_days,
        include_old=include_old or settings.digest.include_old,
    )


def held_back(
    settings: Settings,
    last: store_issues.IssueRow | None,
    posts: tuple[Post, ...],
    now: datetime,
    history: PostHistory,
) -> tuple[Post, ...]:
    """Posts older than the window when first seen, not sent: what ``include_old`` would add."""
    if settings.digest.include_old:
        return ()
    since = window_start(last.created if last else None, now, settings.digest.first_window_days)
    return new_posts(posts, history, since=since, now=now).held


def held_line(posts: tuple[Post, ...]) -> str:
    """One line naming the held-back posts and the two ways to include them ("" for none)."""
    if not posts:
        return ""
    shown = ", ".join(f'"{p.title}" ({p.date.date().isoformat()})' for p in posts[:3])
    more = f" and {len(posts) - 3} more" if len(posts) > 3 else ""
    count = f"{len(posts)} older post{'s' if len(posts) != 1 else ''}"
    return (
        f"{count} held back (already older than first_window_days when first seen): "
        f"{shown}{more}; `fieldfeed digest send --include-old` sends them now, "
        "`[digest] include_old = true` always"
    )


def no_posts_reason(settings: Settings, last: store_issues.IssueRow | None) -> str:
    """Why :func:`plan_next_issue` found nothing, for the report.

    True under the rule "in no earlier issue" (not "dated after the last issue"): before the
    first issue only the first window counts; after it, every published post is in an issue
    (or held back, which the report says on its own line).
    """
    if settings.digest.per_post:
        return "no new posts to mail" + (f" since issue #{last.number}" if last else "")
    if last is None:
        return f"no posts in the last {settings.digest.first_window_days} days: no issue"
    return f"no new posts since issue #{last.number}"


def freeze_next_issue(
    settings: Settings,
    engine: Engine,
    posts: tuple[Post, ...],
    now: datetime,
    *,
    include_old: bool = False,
) -> tuple[int | None, str]:
    """Freeze the next issue: posts, renderings and ledger rows, in one transaction.

    Subscribers are read and their ledger rows written in pages, so memory stays flat however
    long the list. Returns (issue number, "") or (None, why there is no issue). Call under the
    site lock.
    """
    with engine.begin() as conn:
        last = store_issues.last_issue(conn)
        history = load_history(conn)
        plan = plan_next_issue(settings, last, posts, now, history, include_old=include_old)
        if plan is None:
            return None, no_posts_reason(settings, last)
        if not store_subs.active_page(conn, after_id=0, limit=1):
            # Freezing now would use the posts up on nobody; keep them for the first readers.
            return None, NO_SUBSCRIBERS
        issue = Issue(number=plan.number, cutoff=plan.cutoff, created=now, posts=plan.posts)
        env = template_env(settings)
        # A per-post mail is about its post, not about what came since the last issue.
        since = last.cutoff if last and not settings.digest.per_post else None
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
        store_marks.record_marks(conn, *issue_marks(plan, history))
        # The full issue first: most readers get it, and its template names the domain.
        full = variant_for(issue.posts)
        domain = message_template(
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
        "froze issue #%d: %d posts (%d carried to the next), %d variants, %d rows",
        issue.number,
        len(issue.posts),
        plan.left_out,
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


def message_template(
    settings: Settings, rendered: RenderedIssue, issue: Issue, *, test: bool = False
) -> MessageTemplate:
    """The per-recipient message builder for one rendering of ``issue``."""
    return MessageTemplate(settings, rendered, issue, list_id=default_list_id(settings), test=test)


def existing_store(settings: Settings) -> Engine | None:
    """The store if it exists already (a dry run must not create a database)."""
    url = sa.make_url(settings.database_url)
    db = url.database or ""
    if url.get_backend_name() == "sqlite" and db not in ("", ":memory:") and not Path(db).exists():
        return None
    return open_store(settings.database_url)


def load_content_locked(settings: Settings, now: datetime) -> SiteContent:
    """The site's posts, read under the build lock: loading writes the build cache, and a
    build running at the same time would prune the bodies this load relies on."""
    from fieldfeed.lock import build_lock
    from fieldfeed.site.content import load_content

    with build_lock(settings.state_dir):
        return load_content(settings, now)
