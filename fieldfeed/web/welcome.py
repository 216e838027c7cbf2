"""The welcome mail, sent once when a subscription is confirmed (``[digest] welcome``).

Rendered from ``welcome.txt`` and ``welcome.html`` (a site overrides either by name, like the
digest and confirmation templates); a broken override falls back to a built-in text, so the
reader still gets their links. Headers come from :mod:`fieldfeed.mail.headers` and the block
is checked against :data:`~fieldfeed.web.mail.WELCOME_FIELDS`.

Once per subscriber: :func:`fieldfeed.store.subscribers.activate_pending` is a conditional
UPDATE, so only the confirmation that turned the address active sends it (a second click, or
a scanner racing the reader, sends nothing). The Message-ID is deterministic per subscriber,
so even a copy resent by a relay collapses into one. A failed send is logged by subscriber
id and never undoes the confirmation (it runs after the page has been answered).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from sqlalchemy.engine import Engine

from fieldfeed.config import Settings
from fieldfeed.locales import translations
from fieldfeed.mail.headers import (
    angle_field,
    field_line,
    mailbox,
    unstructured,
)
from fieldfeed.mail.message import default_list_id
from fieldfeed.mail.tokens import preferences_link, unsubscribe_link
from fieldfeed.model import Subscriber
from fieldfeed.store import issues as store_issues
from fieldfeed.web.mail import (
    WELCOME_FIELDS,
    assemble_mail,
    parse_verbatim,
    render_parts,
    sender_address,
    site_env,
)
from fieldfeed.web.services import WebServices
from fieldfeed.web.topics import SiteTopics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WelcomeLinks:
    """The per-reader links a welcome mail carries (all built from configuration)."""

    unsubscribe_url: str
    preferences_url: str
    #: ``[digest] archive_url`` and the newest sent issue there; None without an archive.
    archive_url: str | None
    latest_issue_url: str | None


def welcome_message_id(subscriber_id: int, domain: str) -> str:
    """``<welcome.sub-345@example.org>``: one per subscriber, the idempotency key."""
    return f"<welcome.sub-{subscriber_id}@{domain}>"


def build_welcome(
    settings: Settings,
    subscriber: Subscriber,
    links: WelcomeLinks,
    topics: tuple[str, ...],
    now: datetime,
) -> EmailMessage:
    """The welcome message: text first, then HTML, quoted-printable. ``topics`` are the
    display names of the subscriber's tags (empty: every post)."""
    sender = sender_address(settings)
    context = {
        "site": settings.site,
        "email": subscriber.email,
        "name": subscriber.name,
        "topics": topics,
        "unsubscribe_url": links.unsubscribe_url,
        "preferences_url": links.preferences_url,
        "archive_url": links.archive_url,
        "latest_issue_url": links.latest_issue_url,
    }
    words = translations(settings.root, settings.site.language)
    subject = words.gettext("Welcome to %(title)s") % {"title": settings.site.title}
    env = site_env(settings)
    text, html = render_parts(env, "welcome", context, lambda: _fallback_text(settings, links))

    head = b"".join(
        (
            mailbox("From", sender.display_name, sender.addr_spec),
            mailbox("To", subscriber.name, subscriber.email),
            unstructured("Subject", subject),
            field_line("Date", _date(settings, now)),
            field_line("Message-ID", welcome_message_id(subscriber.id, sender.domain)),
            angle_field("List-Id", settings.site.title, default_list_id(settings)),
            # RFC 8058: the same one-click link as a digest (the short unsubscribe token keeps
            # it one line, never an encoded-word).
            field_line("List-Unsubscribe", f"<{links.unsubscribe_url}>"),
            field_line("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            field_line("Auto-Submitted", "auto-generated"),
        )
    )
    return parse_verbatim(assemble_mail(head, text, html, WELCOME_FIELDS))


def _date(settings: Settings, now: datetime) -> str:
    from email.utils import format_datetime

    return format_datetime(now.astimezone(settings.site.tz))


def _fallback_text(settings: Settings, links: WelcomeLinks) -> str:
    lines = [f"Welcome to {settings.site.title}: your subscription is confirmed.", ""]
    if links.latest_issue_url:
        lines += ["The latest issue:", links.latest_issue_url, ""]
    lines += ["Choose topics or unsubscribe:", links.preferences_url, ""]
    lines += ["Unsubscribe (one click):", links.unsubscribe_url, ""]
    return "\n".join(lines)


def latest_issue_number(engine: Engine) -> int | None:
    """The newest issue that has been sent in full (its archive page exists), or None."""
    with engine.connect() as conn:
        last = store_issues.last_issue(conn)
    if last is None:
        return None
    if last.status == "complete":
        return last.number
    return last.number - 1 if last.number > 1 else None


def welcome_links(
    settings: Settings, secret: bytes, subscriber_id: int, latest: int | None, now: datetime
) -> WelcomeLinks:
    """The links for one reader: signed unsubscribe and preferences, archive and latest."""
    base = settings.digest.unsubscribe_url
    digest = settings.digest
    return WelcomeLinks(
        unsubscribe_url=unsubscribe_link(base, secret, subscriber_id),
        preferences_url=preferences_link(base, secret, subscriber_id, int(now.timestamp())),
        archive_url=digest.archive_url or None,
        latest_issue_url=digest.issue_archive_url(latest) if latest is not None else None,
    )


def send_welcome(
    services: WebServices, topics: SiteTopics, subscriber: Subscriber, secret: bytes
) -> None:
    """Build and send the welcome mail. Logs failures, never raises: the confirmation stands."""
    try:
        now = services.clock()
        latest = latest_issue_number(services.engine())
        links = welcome_links(services.settings, secret, subscriber.id, latest, now)
        names = {t.slug: t.name for t in topics.tags()}
        chosen = tuple(names.get(slug, slug) for slug in subscriber.tags)
        message = build_welcome(services.settings, subscriber, links, chosen, now)
        services.mailer()(message, subscriber.email)
    except Exception:
        # By subscriber id, never by address or link: logs outlive unsubscribes.
        log.exception("could not send the welcome mail to subscriber %d", subscriber.id)
        return
    log.info("welcome mail sent to subscriber %d", subscriber.id)
