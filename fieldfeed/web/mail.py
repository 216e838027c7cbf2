"""The confirmation mail: build it, and send it through ``[delivery]``'s transport.

Rendered from the ``confirm.txt`` and ``confirm.html`` templates (a site may override them by
name); if a site's template is broken the mail falls back to a plain built-in text rather
than leaving the person without a link. Every header line comes from :mod:`fieldfeed.mail.headers`
(the name from the public form is normalised and encoded there, never folded by the email
package), and the serialised header block is checked again before it reaches the transport.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import jinja2

from fieldfeed.config import Settings
from fieldfeed.errors import DeliveryError, FieldfeedError
from fieldfeed.locales import translations
from fieldfeed.mail.headers import (
    MessageError,
    check_header_block,
    field_line,
    mailbox,
    unstructured,
)
from fieldfeed.mail.message import sender_mailbox
from fieldfeed.mail.render import inline_css
from fieldfeed.mail.templating import template_env
from fieldfeed.mail.tokens import serve_base
from fieldfeed.model import Subscriber

log = logging.getLogger(__name__)

#: Sends one message to one address (confirmation and welcome mail). Raises on failure.
MailSender = Callable[[EmailMessage, str], None]

_POLICY = SMTP.clone(max_line_length=76)
# Serialise header lines exactly as parsed: never let the email package refold (and so
# decode and re-encode) what fieldfeed.mail.headers wrote.
_VERBATIM = _POLICY.clone(refold_source="none")

#: The header fields of a confirmation mail, in order (checked on the serialised bytes).
CONFIRMATION_FIELDS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
)


def public_base(settings: Settings) -> str | None:
    """Where ``serve`` is reachable from outside, ending in "/"; None when not configured.

    ``[digest] unsubscribe_url`` names serve's public /u/ endpoint, so its parent is serve's
    root. Nothing from the request (Host, X-Forwarded-Host) is ever used: a forged Host header
    would otherwise put an attacker's link, with a valid token, in a mail from this site. Not
    ``[site] url`` either: the blog is often hosted elsewhere, and a confirmation link to a
    host without serve is a silent dead end; without unsubscribe_url no digest can be sent
    anyway.
    """
    return serve_base(settings.digest.unsubscribe_url)


def confirm_url(settings: Settings, token: str) -> str | None:
    """The confirmation link for ``token``, or None when serve's public URL is not configured."""
    base = public_base(settings)
    return None if base is None else base + "confirm/" + token


def sender_address(settings: Settings) -> Address:
    """The ``[digest] from`` address (or the site's title and email), domain in A-labels."""
    try:
        name, addr = sender_mailbox(settings)
    except FieldfeedError as exc:
        raise DeliveryError(str(exc)) from None
    return Address(display_name=name, addr_spec=addr)


def build_confirmation(
    settings: Settings, subscriber: Subscriber, link: str, max_age_hours: int, now: datetime
) -> EmailMessage:
    """The confirmation message: text first, then HTML, quoted-printable."""
    sender = sender_address(settings)
    context = {
        "site": settings.site,
        "confirm_url": link,
        "email": subscriber.email,
        "name": subscriber.name,
        "expires_hours": max_age_hours,
    }
    env = site_env(settings)
    words = translations(settings.root, settings.site.language)
    subject = words.gettext("Confirm your subscription to %(title)s") % {
        "title": settings.site.title
    }
    text, html = render_parts(
        env, "confirm", context, lambda: _fallback_text(settings, link, max_age_hours)
    )

    head = b"".join(
        (
            mailbox("From", sender.display_name, sender.addr_spec),
            mailbox("To", subscriber.name, subscriber.email),
            unstructured("Subject", subject),
            field_line("Date", format_datetime(now.astimezone(settings.site.tz))),
            field_line("Message-ID", make_msgid("confirm", domain=sender.domain)),
            field_line("Auto-Submitted", "auto-generated"),
        )
    )
    raw = assemble_mail(head, text, html, CONFIRMATION_FIELDS)
    # Parsed back with a policy that writes header lines verbatim: see confirmation_bytes.
    msg = BytesParser(policy=_VERBATIM).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def render_parts(
    env: jinja2.Environment,
    stem: str,
    context: dict[str, Any],
    fallback_text: Callable[[], str],
) -> tuple[str, str | None]:
    """The text and the inlined HTML of a one-off mail from ``<stem>.txt``/``<stem>.html``.

    A site's broken template never stops the mail (the reader is waiting for it): a broken
    text template falls back to ``fallback_text()``, a broken HTML one to text only, each
    logged. The HTML is inlined like the digest, so clients that drop <style> still show it.
    """
    try:
        text = env.get_template(f"{stem}.txt").render(context)
    except jinja2.TemplateError as exc:
        log.warning("%s.txt: %s; using the built-in text", stem, exc)
        text = fallback_text()
    try:
        html: str | None = inline_css(env.get_template(f"{stem}.html").render(context))
    except jinja2.TemplateError as exc:
        log.warning("%s.html: %s; sending text only", stem, exc)
        html = None
    return text, html


def confirmation_bytes(message: EmailMessage) -> bytes:
    """The wire form of a :func:`build_confirmation` message, its header block checked.

    Serialised verbatim (no refolding), so the lines fieldfeed.mail.headers produced are the
    lines sent; MessageError if the block is not exactly :data:`CONFIRMATION_FIELDS`.
    """
    raw = message.as_bytes(policy=_VERBATIM)
    check_header_block(raw, CONFIRMATION_FIELDS)
    return raw


#: The header fields of a welcome mail (:mod:`fieldfeed.web.welcome`), in order. Like a
#: digest it carries List-Id and RFC 8058 one-click List-Unsubscribe: it is list mail, and
#: the reader can leave from the first message (Gmail and Yahoo expect it of list mail).
WELCOME_FIELDS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
)

#: The field lists of the mails ``serve`` sends. Each builder checks its message against
#: its exact list; the transport checks again that the block is one of these.
SERVE_MAIL_FIELDS = (CONFIRMATION_FIELDS, WELCOME_FIELDS)


def assemble_mail(head: bytes, text: str, html: str | None, fields: Sequence[str]) -> bytes:
    """``head`` (header lines from :mod:`fieldfeed.mail.headers`) and a text part (plus an
    HTML alternative), as checked bytes: the header block must be exactly ``fields``."""
    body = EmailMessage(policy=_POLICY)
    body.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if html is not None:
        body.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    raw = head + body.as_bytes(policy=_POLICY)
    check_header_block(raw, fields)
    return raw


def parse_verbatim(raw: bytes) -> EmailMessage:
    """``raw`` (a checked message) as an EmailMessage that serialises its header lines as is."""
    msg = BytesParser(policy=_VERBATIM).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def serve_mail_bytes(message: EmailMessage) -> bytes:
    """The wire form of a mail ``serve`` built, verbatim; MessageError unless its header
    block is exactly one of :data:`SERVE_MAIL_FIELDS`."""
    raw = message.as_bytes(policy=_VERBATIM)
    for fields in SERVE_MAIL_FIELDS[1:]:
        try:
            check_header_block(raw, fields)
            return raw
        except MessageError:
            continue
    check_header_block(raw, SERVE_MAIL_FIELDS[0])
    return raw


_envs: dict[Path, jinja2.Environment] = {}
_envs_lock = threading.Lock()


def site_env(settings: Settings) -> jinja2.Environment:
    """One template environment per site (compiling templates per mail is the slow part)."""
    with _envs_lock:
        env = _envs.get(settings.root)
        if env is None:
            env = _envs[settings.root] = template_env(settings)
        return env


def _fallback_text(settings: Settings, link: str, max_age_hours: int) -> str:
    return (
        f"Someone (hopefully you) asked to get {settings.site.title} by email.\n\n"
        f"To confirm, open this link within {max_age_hours} hours:\n\n{link}\n\n"
        "If it was not you, ignore this message: nothing is sent without confirmation.\n"
    )


def transport_sender(settings: Settings) -> MailSender:
    """A sender over ``[delivery]``'s transport: one connection per message (confirmations
    are few), closed afterwards. The SMTP password comes from the variable ``password_env``."""
    from fieldfeed.mail.transports import MaildirTransport, SMTPTransport

    delivery = settings.delivery
    envelope = sender_address(settings).addr_spec

    maildir: list[MaildirTransport] = []
    lock = threading.Lock()

    def send(message: EmailMessage, to: str) -> None:
        raw = serve_mail_bytes(message)
        if delivery.transport == "maildir":
            # One shared Maildir object: creating the folders from several threads at once
            # races (mailbox.Maildir(create=True) fails with "File exists").
            with lock:
                if not maildir:
                    maildir.append(MaildirTransport(settings.root / delivery.maildir))
            maildir[0].send(envelope, to, raw)
            return
        password = os.environ.get(delivery.password_env) if delivery.password_env else None
        transport = SMTPTransport(delivery, password or None)
        try:
            transport.send(envelope, to, raw)
        finally:
            transport.close()

    return send
