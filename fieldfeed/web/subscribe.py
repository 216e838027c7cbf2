"""``/subscribe`` and ``/confirm/<token>``: double opt-in.

POST /subscribe stores the address as ``pending`` and mails a signed, expiring link; only
following it (and pressing the button there) makes the address ``active``. The answer to a
POST is the same page with the same status whatever the address's state (new, pending,
active, unsubscribed), and the mail goes out after the response, so neither the page nor
its timing tells a stranger who is on the list. An active subscriber gets no mail and no
change (nobody can change someone else's tag filter from this form).

The confirmation link opens a page with a button that POSTs: a GET changes nothing, because
mail scanners fetch every link in a message and would otherwise confirm addresses nobody
confirmed.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from sqlalchemy.engine import Engine
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from fieldfeed.mail.tokens import sign_confirmation, verify_confirmation
from fieldfeed.model import Subscriber
from fieldfeed.store import subscribers
from fieldfeed.store.subscribers import InvalidSubscriber
from fieldfeed.web.deps import (
    client_key,
    limiter_of,
    own_origins,
    pages_of,
    read_form,
    read_form_lists,
    secret_of,
    services_of,
    topics_of,
)
from fieldfeed.web.mail import build_confirmation, confirm_url, public_base
from fieldfeed.web.origin import foreign_origin
from fieldfeed.web.ratelimit import mailbox_key
from fieldfeed.web.services import WebServices
from fieldfeed.web.topics import choose, unknown_message
from fieldfeed.web.welcome import send_welcome

log = logging.getLogger(__name__)

SUBSCRIBE_PATH = "/subscribe"


async def subscribe_form(request: Request) -> Response:
    """GET: the form (503 where no confirmation link can be built: no dead-end form)."""
    if public_base(services_of(request).settings) is None:
        raise HTTPException(503, "Subscriptions are not set up on this server yet.")
    return _form(request)


def _form(
    request: Request,
    *,
    error: str = "",
    status_code: int = 200,
    email: str = "",
    name: str = "",
    chosen: tuple[str, ...] = (),
) -> Response:
    return pages_of(request).response(
        "subscribe",
        status_code=status_code,
        # Not "no-referrer" here: with it, browsers send "Origin: null" on the form's POST,
        # which the cross-site check must refuse. This URL carries no token.
        headers={"Referrer-Policy": "same-origin"},
        action=SUBSCRIBE_PATH,
        # The form's fixed messages are catalog msgids, like the error pages' (web/app.py).
        error=pages_of(request).translate(error),
        email=email,
        name=name,
        topics=topics_of(request).tags(),
        chosen=chosen,
        # The free-text field of earlier versions: a site's own subscribe.html may still use
        # it (its comma-separated value is accepted when it names the site's tags).
        tags=", ".join(chosen),
        schedule_text="",
    )


async def subscribe_post(request: Request) -> Response:
    """POST: validate, store as pending, answer, then mail the confirmation link."""
    services = services_of(request)
    secret = secret_of(request)
    if public_base(services.settings) is None:
        raise HTTPException(503, "Subscriptions are not set up on this server yet.")
    foreign = foreign_origin(request, own_origins(request))
    if foreign is not None:
        # Another site's page made a browser POST here: send nothing (not even count it).
        log.info("refused a subscribe POST from another site's page (%s)", foreign[:100])
        raise HTTPException(403, "Subscribe from this site's own form.")
    wait = limiter_of(request).hit(client_key(request), time.monotonic())
    if wait is not None:
        raise HTTPException(
            429,
            "Too many subscribe requests from your address. Try again later.",
            headers={"Retry-After": str(int(wait))},
        )
    lists = await read_form_lists(request)
    email = (lists.get("email") or [""])[0].strip()
    name = (lists.get("name") or [""])[0].strip()
    # Topics are checkboxes (one "tags" value each); only the site's own tags are accepted,
    # never stored as free text. A comma-separated value (curl, old forms) is split.
    available = await run_in_threadpool(topics_of(request).tags)
    tags, unknown = choose(available, lists.get("tags", [])[:200])
    try:
        if len(email) > 320:
            raise InvalidSubscriber("that email address is too long")
        address = subscribers.normalize_email(email)
        clean = subscribers.clean_name(name)
        if unknown:
            raise InvalidSubscriber("unknown tag")
    except InvalidSubscriber as exc:
        return _form(
            request,
            error=unknown_message(unknown) if unknown else _reason(str(exc)),
            status_code=400,
            email=email[:320],
            name=name[:200],
            chosen=tags,
        )

    now = services.clock()
    pending = await run_in_threadpool(
        lambda: register_pending(services.engine(), address, clean, tags, now)
    )
    task = None
    mailbox = mailbox_key(address)
    if pending is not None and services.mail_limiter.hit(mailbox, time.monotonic()) is None:
        token = sign_confirmation(secret, pending.email, int(now.timestamp()))
        link = confirm_url(services.settings, token)
        if link is not None:
            task = BackgroundTask(send_confirmation, services, pending, link)
    return pages_of(request).response(
        "subscribe_sent",
        background=task,
        max_age_hours=services.confirm_max_age // 3600,
        subscribe_path=SUBSCRIBE_PATH,
    )


def register_pending(
    engine: Engine, address: str, name: str, tags: tuple[str, ...], now: datetime
) -> Subscriber | None:
    """Make ``address`` pending (one entry however often asked) unless it is active already.

    Returns the pending subscriber (to mail), or None for an active one (nothing to do).
    One transaction, so two concurrent POSTs cannot demote an active subscriber.
    """
    with engine.begin() as conn:
        existing = subscribers.get(conn, address)
        if existing is not None and existing.status == "active":
            return None
        subscriber, _ = subscribers.upsert(
            conn, address, name=name, tags=tags, status="pending", now=now
        )
        return subscriber


def _reason(message: str) -> str:
    """The validator's message, as a sentence about the form (never echoing raw input)."""
    if "SMTPUTF8" in message:
        return (
            "Addresses with non-ASCII letters before the @ are not supported. Use another address."
        )
    if "email" in message or "address" in message:
        return "That does not look like an email address. Check it and try again."
    if "name" in message:
        return "The name cannot contain line breaks or control characters (200 characters at most)."
    return "Check the form and try again."


def _verified_email(request: Request) -> str:
    services = services_of(request)
    token = request.path_params["token"]
    email = verify_confirmation(
        secret_of(request),
        token,
        int(services.clock().timestamp()),
        services.confirm_max_age,
    )
    if email is None:
        raise _bad_confirm(request)
    return email


def _bad_confirm(request: Request) -> HTTPException:
    return HTTPException(400, "This confirmation link is not valid or has expired.")


async def confirm(request: Request) -> Response:
    """GET /confirm/<token>: a page with a button; changes nothing."""
    email = _verified_email(request)
    return pages_of(request).response(
        "confirm", state="ask", email=email, action=request.url.path, subscribe_path=SUBSCRIBE_PATH
    )


async def confirm_post(request: Request) -> Response:
    """POST /confirm/<token>: the pending address becomes active."""
    email = _verified_email(request)
    secret = secret_of(request)
    await read_form(request)
    services = services_of(request)
    now = services.clock()
    outcome = await run_in_threadpool(lambda: activate(services.engine(), email, now))
    pages = pages_of(request)
    if outcome is None:
        return pages.response(
            "confirm", status_code=400, state="invalid", email="", subscribe_path=SUBSCRIBE_PATH
        )
    subscriber, activated = outcome
    task = None
    if activated and services.settings.digest.welcome:
        # After the response, like the confirmation mail: a slow or failing relay neither
        # delays nor undoes the confirmation (send_welcome logs and returns).
        task = BackgroundTask(send_welcome, services, topics_of(request), subscriber, secret)
    return pages.response(
        "confirm", state="ok", email=email, subscribe_path=SUBSCRIBE_PATH, background=task
    )


def activate(engine: Engine, email: str, now: datetime) -> tuple[Subscriber, bool] | None:
    """Pending -> active (keeping name and tags): (the subscriber, whether THIS call made it
    active). None when the address is not pending or active.

    An unsubscribed or bounced address is not revived by an old link: it subscribes again.
    Of two confirmations racing, exactly one sees True (a conditional UPDATE), so the
    welcome mail goes out once.
    """
    try:
        with engine.begin() as conn:
            existing = subscribers.get(conn, email)
            if existing is None or existing.status not in ("pending", "active"):
                return None
            activated = subscribers.activate_pending(conn, existing.id, now=now)
            current = subscribers.get_by_id(conn, existing.id)
            if current is None or current.status != "active":
                return None
            return current, activated
    except InvalidSubscriber:
        return None


def send_confirmation(services: WebServices, subscriber: Subscriber, link: str) -> None:
    """Build and send the confirmation mail. Logs failures (the page has been answered)."""
    try:
        message = build_confirmation(
            services.settings, subscriber, link, services.confirm_max_age // 3600, services.clock()
        )
        services.mailer()(message, subscriber.email)
    except Exception:
        # Logged by subscriber id, never by address: logs outlive unsubscribes.
        log.exception("could not send the confirmation mail to subscriber %d", subscriber.id)
        return
    log.info("confirmation mail sent to subscriber %d", subscriber.id)
