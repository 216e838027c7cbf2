"""The confirmation mail: build it, and send it through the configured transport."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from urllib.parse import urlsplit

from fieldfeed.config import Settings
from fieldfeed.model import Subscriber
from fieldfeed.web.services import MailSender, WebServices

log = logging.getLogger(__name__)


def public_base(settings: Settings, request_base: str) -> str:
    """Where ``serve`` is reachable from outside, ending in "/".

    ``[digest] unsubscribe_url`` names serve's public /u/ endpoint, so its parent is serve's
    root. Only when it is unset does the request's own base URL serve (trust the Host header
    only behind a proxy that sets it).
    """
    unsub = settings.digest.unsubscribe_url
    if unsub.startswith(("https://", "http://")):
        parts = urlsplit(unsub)
        path = parts.path.rstrip("/")
        if path.endswith("/u"):
            path = path[: -len("/u")]
        return f"{parts.scheme}://{parts.netloc}{path}/"
    return request_base if request_base.endswith("/") else request_base + "/"


def confirm_url(settings: Settings, request_base: str, token: str) -> str:
    return public_base(settings, request_base) + "confirm/" + token


def send_confirmation(services: WebServices, subscriber: Subscriber, link: str) -> None:
    """Build and send the confirmation mail. Logs failures (the page has been answered)."""
    try:
        message = build_confirmation(services.settings, subscriber, link)
        services.mailer()(message, subscriber.email)
    except Exception:
        log.exception("could not send the confirmation mail to subscriber %d", subscriber.id)
        return
    log.info("confirmation mail sent to subscriber %d", subscriber.id)


def build_confirmation(settings: Settings, subscriber: Subscriber, link: str) -> EmailMessage:
    raise NotImplementedError


def transport_sender(settings: Settings) -> MailSender:
    raise NotImplementedError
