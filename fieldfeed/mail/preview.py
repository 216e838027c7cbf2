"""Looking at the next issue before it goes out: a preview on disk, or a test send to one address.

Neither freezes nor records anything: an interrupted issue is shown as it was frozen, else the
issue that would be frozen now. A preview is addressed to a made-up sample reader with a fake
unsubscribe token: preview files get committed, attached to bug reports and opened in shared
folders, so they hold no subscriber's address and no link that works (the preview never reads
the site secret). A test send uses the real secret, since its unsubscribe link must work.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fieldfeed.config import Settings
from fieldfeed.errors import DeliveryError
from fieldfeed.locales import translations
from fieldfeed.mail import tokens
from fieldfeed.mail.edge import envelope_sender, load_site_secret, send_policy, transport_factory
from fieldfeed.mail.freezing import (
    existing_store,
    held_back,
    held_line,
    load_content_locked,
    load_history,
    message_template,
    no_posts_reason,
    plan_next_issue,
)
from fieldfeed.mail.issues import PostHistory, posts_for
from fieldfeed.mail.render import RenderedIssue, personalize, render_issue, tag_filter_sentence
from fieldfeed.mail.templating import template_env
from fieldfeed.mail.transports import TemporaryFailure
from fieldfeed.model import Issue, Subscriber
from fieldfeed.store import issues as store_issues
from fieldfeed.store import subscribers as store_subs

if TYPE_CHECKING:
    from fieldfeed.site.content import SiteContent

#: Who every preview is addressed to (example.org is reserved for examples, RFC 2606).
SAMPLE_READER = ("Sample Reader", "reader@example.org")
#: The preview's unsubscribe token: shaped like nothing ``verify_unsubscribe`` accepts (no
#: ``id.mac`` dot), so a link copied out of a preview can never unsubscribe anyone.
PREVIEW_TOKEN = "PREVIEW-not-a-real-token"  # noqa: S105 (a fixed placeholder, not a secret)


@dataclass(frozen=True, slots=True)
class Preview:
    """Files written by :func:`write_preview`."""

    issue: int
    subscriber: str
    html: Path
    text: Path
    eml: Path
    #: The held-back line ("" when nothing is held back).
    held: str = ""


@dataclass(frozen=True, slots=True)
class NextIssue:
    """What a preview or a test send shows: the issue, or why there is none, and what is held."""

    issue: Issue | None
    #: The previous issue's cutoff (the intro's "since").
    since: datetime | None
    #: Why there is no issue ("" when there is one).
    reason: str
    #: The held-back line of the report ("" when nothing is held back).
    held: str


def next_issue(settings: Settings, now: datetime, content: SiteContent | None) -> NextIssue:
    """The open issue as frozen, else the one that would be frozen now; nothing is written.

    Whether it is due does not matter here: a preview shows what the next issue will hold.
    """
    engine = existing_store(settings)
    last = None
    history = PostHistory()
    if engine is not None:
        with engine.connect() as conn:
            unfinished = store_issues.open_issue(conn)
            if unfinished is not None:
                issue, _ = store_issues.load_issue(conn, unfinished.number)
                since = store_issues.previous_cutoff(conn, unfinished.number)
                return NextIssue(issue, since, "", "")
            last = store_issues.last_issue(conn)
            history = load_history(conn)
    content = content if content is not None else load_content_locked(settings, now)
    held = held_line(held_back(settings, last, content.posts, now, history))
    plan = plan_next_issue(settings, last, content.posts, now, history)
    if plan is None:
        return NextIssue(None, None, no_posts_reason(settings, last), held)
    issue = Issue(number=plan.number, cutoff=plan.cutoff, created=now, posts=plan.posts)
    since = last.cutoff if last and not settings.digest.per_post else None
    return NextIssue(issue, since, "", held)


def sample_subscriber(now: datetime) -> Subscriber:
    """The made-up "Sample Reader <reader@example.org>" every preview is addressed to.

    Never a real subscriber: a preview on disk must not carry anyone's address.
    """
    name, email = SAMPLE_READER
    return Subscriber(id=0, email=email, name=name, tags=(), status="active", created=now)


def write_preview(
    settings: Settings,
    now: datetime,
    content: SiteContent | None,
    out_dir: Path,
) -> Preview | str:
    """Write the next issue as HTML, text and .eml for the sample reader; freezes nothing.

    Returns the paths, or why there is no next issue (with the held-back line, if any).
    """
    found = next_issue(settings, now, content)
    issue, since = found.issue, found.since
    if issue is None:
        return "; ".join(x for x in (found.reason, found.held) if x)
    sub = sample_subscriber(now)
    rendered = _render_as(settings, issue, since, sub)
    url = settings.digest.unsubscribe_url + PREVIEW_TOKEN
    base = tokens.serve_base(settings.digest.unsubscribe_url)
    prefs = base + tokens.PREFERENCES_PATH + PREVIEW_TOKEN if base else ""
    tag_names = {t.slug: t.name for p in issue.posts for t in p.tags}
    words = translations(settings.root, settings.site.language)
    html, text = personalize(rendered, sub, url, tag_filter_sentence(sub, tag_names, words), prefs)
    eml = message_template(settings, rendered, issue).build(sub, url, prefs)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"issue-{issue.number}"
    paths = (stem.with_suffix(".html"), stem.with_suffix(".txt"), stem.with_suffix(".eml"))
    paths[0].write_text(html, encoding="utf-8")
    paths[1].write_text(text, encoding="utf-8")
    paths[2].write_bytes(eml)
    return Preview(issue.number, sub.email, *paths, held=found.held)


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
    found = next_issue(settings, now, content)
    issue, since = found.issue, found.since
    if issue is None:
        return "; ".join(x for x in (f"nothing to test: {found.reason}", found.held) if x)
    existing = None
    engine = existing_store(settings)
    if engine is not None:
        existing = store_subs.get(engine, address)
    sub = existing or Subscriber(
        id=0, email=address, name="", tags=(), status="active", created=now
    )
    rendered = _render_as(settings, issue, since, sub)
    secret, _warnings = load_site_secret(settings, environ)
    url = tokens.unsubscribe_link(settings.digest.unsubscribe_url, secret, sub.id)
    prefs = tokens.preferences_link(
        settings.digest.unsubscribe_url, secret, sub.id, int(now.timestamp())
    )
    message = message_template(settings, rendered, issue, test=True).build(sub, url, prefs)
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
