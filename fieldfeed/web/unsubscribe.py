"""``/u/<token>``: one-click unsubscribe (RFC 8058) and the page behind the visible link.

POST unsubscribes at once: no cookie, no login, no redirect, a 200 page. GET only shows a
button that POSTs, because mail scanners and link previewers fetch every URL in a message
(RFC 8058 section 4). The token names the subscriber and is checked (HMAC, constant time)
before anything is read or written; a forged or altered token changes nothing.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from fieldfeed.mail.tokens import verify_unsubscribe
from fieldfeed.store import subscribers
from fieldfeed.web.deps import pages_of, read_form, secret_of, services_of

_BAD_LINK = "This unsubscribe link is not valid. Use the link from the most recent digest."


def _subscriber_id(request: Request) -> int:
    token = request.path_params["token"]
    subscriber_id = verify_unsubscribe(secret_of(request), token)
    if subscriber_id is None:
        raise HTTPException(400, _BAD_LINK)
    return subscriber_id


async def unsubscribe_page(request: Request) -> Response:
    """GET: a page with an Unsubscribe button. Changes nothing."""
    _subscriber_id(request)
    return pages_of(request).response("unsubscribe", action=request.url.path)


async def unsubscribe_post(request: Request) -> Response:
    """POST (one-click or the page's button): unsubscribe now, answer 200."""
    subscriber_id = _subscriber_id(request)
    # RFC 8058 bodies are ``List-Unsubscribe=One-Click`` (urlencoded or multipart). The POST
    # itself is the intent, so a missing field still unsubscribes; an unreadable body is 400.
    await read_form(request)
    services = services_of(request)
    now = services.clock()
    await run_in_threadpool(
        lambda: subscribers.unsubscribe_id(services.engine(), subscriber_id, now=now)
    )
    # The same page whether or not the subscriber still exists or was already unsubscribed.
    return pages_of(request).response("unsubscribed", subscribe_path="/subscribe")
