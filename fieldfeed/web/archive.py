"""``/archive/``: past issues, and each one as a web page without anyone's personal data.

The issue page is the digest HTML itself (the "view in the browser" link), rendered from the
frozen issue as its archive copy (``archive_copy``: the templates leave out the "subscribed
as" line and the unsubscribe links, and offer a subscribe link instead) and with every
per-recipient placeholder replaced by neutral text, in case a site's own template still shows
one: no name, no address, no unsubscribe token. Issues are frozen, so each page is rendered
once and kept.
"""

from __future__ import annotations

import html as html_lib
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from fieldfeed.config import Settings
from fieldfeed.mail.render import (
    PH_EMAIL,
    PH_NAME,
    PH_PREFERENCES,
    PH_RECIPIENT,
    PH_TAG_FILTER,
    PH_UNSUBSCRIBE,
    render_issue,
)
from fieldfeed.mail.templating import template_env
from fieldfeed.model import Issue
from fieldfeed.store import issues as stored_issues
from fieldfeed.store.postjson import load_posts
from fieldfeed.store.schema import issues as issues_table
from fieldfeed.web.deps import pages_of, services_of
from fieldfeed.web.pages import PAGE_HEADERS

#: The archive page may show the images the posts link to; nothing else changes.
ISSUE_HEADERS = dict(
    PAGE_HEADERS,
    **{
        "Content-Security-Policy": (
            "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        "Cache-Control": "public, max-age=300",
    },
)
_MAX_NUMBER = 10**9

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ArchivedPost:
    """A post as the archive list links it."""

    title: str
    url: str


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """One line of the archive list."""

    number: int
    created: datetime
    #: The issue's posts, newest first, each linked to the post itself.
    posts: tuple[ArchivedPost, ...]
    path: str

    @property
    def titles(self) -> tuple[str, ...]:
        """The posts' titles: what a site's own ``web/archive.html`` from before the links
        used, kept so such an override still renders."""
        return tuple(p.title for p in self.posts)


#: What reading one damaged issue row raises (bad JSON, a missing key, an unparseable date).
ROW_ERRORS = (ValueError, TypeError, KeyError, AttributeError)


def list_issues(engine: Engine) -> list[ArchiveEntry]:
    """Every issue that has started sending, newest first.

    A row that cannot be read is logged and left out: one damaged issue must not hide the
    whole archive. One query normally; only when a row fails is each read on its own.
    """
    query = sa.select(issues_table.c.number, issues_table.c.created, issues_table.c.posts)
    with engine.connect() as conn:
        try:
            rows = conn.execute(query.order_by(issues_table.c.number.desc())).all()
            return [_entry(row) for row in rows]
        except ROW_ERRORS:
            pass  # find which rows, below
        numbers = conn.execute(
            sa.select(issues_table.c.number).order_by(issues_table.c.number.desc())
        ).scalars()
        entries = []
        for number in list(numbers):
            try:
                entries.append(
                    _entry(conn.execute(query.where(issues_table.c.number == number)).one())
                )
            except ROW_ERRORS as exc:
                log.error("archive: issue %s cannot be read, left out: %s", number, _one_line(exc))
        return entries


def _entry(row: Any) -> ArchiveEntry:
    return ArchiveEntry(
        number=row.number,
        created=row.created,
        posts=tuple(ArchivedPost(p.title, p.url) for p in load_posts(row.posts)),
        path=f"/archive/{row.number}/",
    )


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


def load_issue(engine: Engine, number: int) -> tuple[Issue, datetime | None] | None:
    """Issue ``number`` as frozen and the previous issue's cutoff, or None."""
    with engine.connect() as conn:
        exists = conn.execute(
            sa.select(issues_table.c.number).where(issues_table.c.number == number)
        ).first()
        if exists is None:
            return None
        issue, _variants = stored_issues.load_issue(conn, number)
        return issue, stored_issues.previous_cutoff(conn, number)


def render_public(settings: Settings, issue: Issue, since: datetime | None) -> str:
    """The digest HTML of ``issue`` as anyone may see it: placeholders made neutral."""
    env = template_env(settings)
    rendered = render_issue(settings, env, issue, issue.posts, since=since, archive_copy=True)
    neutral = {
        PH_RECIPIENT: "",
        PH_NAME: "",
        PH_EMAIL: "",
        # The archive copy belongs to nobody: its "unsubscribe" link goes to the subscribe
        # page (a fixed path), never to anyone's token.
        PH_UNSUBSCRIBE: "/subscribe",
        PH_PREFERENCES: "/subscribe",
        PH_TAG_FILTER: "",
    }
    page = rendered.html
    for placeholder, value in neutral.items():
        page = page.replace(placeholder, html_lib.escape(value, quote=True))
    return page


class IssuePageCache:
    """Rendered archive pages by issue number (frozen issues never change)."""

    def __init__(self, max_items: int = 64) -> None:
        self.max_items = max_items
        self._pages: dict[int, str] = {}
        self._lock = threading.Lock()

    def get(self, number: int) -> str | None:
        with self._lock:
            return self._pages.get(number)

    def put(self, number: int, page: str) -> None:
        with self._lock:
            if len(self._pages) >= self.max_items:
                self._pages.pop(next(iter(self._pages)))
            self._pages[number] = page


_cache_lock = threading.Lock()


def _cache(request: Request) -> IssuePageCache:
    with _cache_lock:
        cache = getattr(request.app.state, "issue_pages", None)
        if cache is None:
            cache = IssuePageCache()
            request.app.state.issue_pages = cache
    assert isinstance(cache, IssuePageCache)
    return cache


async def archive_index(request: Request) -> Response:
    services = services_of(request)
    entries = await run_in_threadpool(lambda: list_issues(services.engine()))
    return pages_of(request).response("archive", issues=entries, subscribe_path="/subscribe")


async def archive_issue(request: Request) -> Response:
    text = request.path_params["number"]
    if not (text.isascii() and text.isdigit()) or len(text) > 9 or int(text) > _MAX_NUMBER:
        raise HTTPException(404, "There is no issue with that number.")
    number = int(text)
    cache = _cache(request)
    page = cache.get(number)
    if page is None:
        services = services_of(request)

        def render() -> str | None:
            try:
                found = load_issue(services.engine(), number)
            except ROW_ERRORS as exc:
                log.error("archive: issue %d cannot be read: %s", number, _one_line(exc))
                return None
            if found is None:
                return None
            return render_public(services.settings, *found)

        page = await run_in_threadpool(render)
        if page is None:
            raise HTTPException(404, "There is no issue with that number.")
        cache.put(number, page)
    return HTMLResponse(page, headers=ISSUE_HEADERS)
