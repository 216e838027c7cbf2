"""``/preferences/<token>``: a subscriber's topics, and a way out, from a link in every mail.

The signed token (its own purpose, :func:`fieldfeed.mail.tokens.sign_preferences`, expiring
after :data:`~fieldfeed.mail.tokens.PREFERENCES_MAX_AGE`) is the only authority: no cookies,
no login. A forged, altered or expired token gets 400 before anything is read, so no page
shows a subscriber's address or topics without one.

GET shows the topics as checkboxes (the site's tags, :mod:`fieldfeed.web.topics`) and an
Unsubscribe button; it changes nothing (mail scanners fetch every link). POST saves the
checked topics (none: every post) or unsubscribes. A POST also passes the same cross-site
check as /subscribe (:mod:`fieldfeed.web.origin`): a hostile page cannot make a visitor's
browser change a subscription whose link it learned, and the per-client limit applies.
A topic the site does not have is refused (400), never stored.
"""

from __future__ import annotations

import logging
import time

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from fieldfeed.mail.tokens import verify_preferences
from fieldfeed.model import Subscriber
from fieldfeed.store import subscribers
from fieldfeed.web.deps import (
    client_key,
    own_origins,
    pages_of,
    read_form_lists,
    secret_of,
    services_of,
    topics_of,
)
from fieldfeed.web.origin import foreign_origin
from fieldfeed.web.ratelimit import RateLimiter
from fieldfeed.web.topics import choose, unknown_message

log = logging.getLogger(__name__)

PREFERENCES_ROUTE = "/preferences/{token}"
_BAD_LINK = (
    "This preferences link is not valid or has expired. "
    "Use the Preferences link in your most recent mail."
)
_SUBSCRIBE_PATH = "/subscribe"


def _subscriber_id(request: Request) -> int:
    services = services_of(request)
    subscriber_id = verify_preferences(
        secret_of(request), request.path_params["token"], int(services.clock().timestamp())
    )
    if subscriber_id is None:
        raise HTTPException(400, _BAD_LINK)
    return subscriber_id


async def _load(request: Request, subscriber_id: int) -> Subscriber | None:
    """The subscriber, or None when gone or no longer subscribed."""
    engine = services_of(request).engine()
    found = await run_in_threadpool(lambda: subscribers.get_by_id(engine, subscriber_id))
    if found is None or found.status not in ("pending", "active"):
        return None
    return found


async def _page(
    request: Request,
    subscriber: Subscriber | None,
    *,
    state: str = "show",
    error: str = "",
    status_code: int = 200,
    chosen: tuple[str, ...] | None = None,
) -> Response:
    if subscriber is None and state not in ("unsubscribed",):
        state = "gone"
    topics = await run_in_threadpool(topics_of(request).tags)
    return pages_of(request).response(
        "preferences",
        status_code=status_code,
        state=state,
        error=error,
        email=subscriber.email if subscriber else "",
        topics=topics,
        chosen=chosen if chosen is not None else (subscriber.tags if subscriber else ()),
        action=request.url.path,
        subscribe_path=_SUBSCRIBE_PATH,
    )


async def preferences_page(request: Request) -> Response:
    """GET: the subscriber's topics and an Unsubscribe button. Changes nothing."""
    subscriber_id = _subscriber_id(request)
    return await _page(request, await _load(request, subscriber_id))


async def preferences_post(request: Request) -> Response:
    """POST: save the checked topics (``do=save``) or unsubscribe (``do=unsubscribe``)."""
    subscriber_id = _subscriber_id(request)
    foreign = foreign_origin(request, own_origins(request))
    if foreign is not None:
        log.info("refused a preferences POST from another site's page (%s)", foreign[:100])
        raise HTTPException(403, "Change your preferences on this site's own page.")
    limiter: RateLimiter = request.app.state.preferences_limiter
    wait = limiter.hit(client_key(request), time.monotonic())
    if wait is not None:
        raise HTTPException(
            429,
            "Too many changes from your address. Try again later.",
            headers={"Retry-After": str(int(wait))},
        )
    fields = await read_form_lists(request)
    services = services_of(request)
    engine = services.engine()
    action = (fields.get("do") or ["save"])[0]
    if action == "unsubscribe":
        now = services.clock()
        subscriber = await _load(request, subscriber_id)
        await run_in_threadpool(lambda: subscribers.unsubscribe_id(engine, subscriber_id, now=now))
        return await _page(request, subscriber, state="unsubscribed")
    if action != "save":
        raise HTTPException(400, "The form data could not be read.")

    available = await run_in_threadpool(topics_of(request).tags)
    tags, unknown = choose(available, fields.get("tags", [])[:200])
    if unknown:
        subscriber = await _load(request, subscriber_id)
        return await _page(
            request, subscriber, error=unknown_message(unknown), status_code=400, chosen=tags
        )
    updated = await run_in_threadpool(lambda: subscribers.set_tags(engine, subscriber_id, tags))
    if updated is not None:
        log.info("subscriber %d changed topics", subscriber_id)
    return await _page(request, updated, state="saved" if updated else "gone")
