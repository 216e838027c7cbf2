"""Subscribers: validated, normalised addresses with a name, a tag filter and a status."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import email_validator
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from fieldfeed.errors import FieldfeedError
from fieldfeed.model import Subscriber
from fieldfeed.names import header_text, tag_slug
from fieldfeed.store.schema import UTCDateTime
from fieldfeed.store.schema import subscribers as t

STATUSES = ("pending", "active", "unsubscribed", "bounced", "complained")
#: Statuses of addresses that must never be mailed again until their owner subscribes anew:
#: they left (``unsubscribed``), their mailbox is gone (``bounced``; Mailchimp's "cleaned"),
#: or they reported a mail as spam (``complained``). The digest mails ``active`` rows only, so
#: none of these is ever mailed. ``status`` is a free String(16) column, so a new status
#: needs no schema migration.
SUPPRESSED = ("unsubscribed", "bounced", "complained")
_CR_LF_NUL = re.compile("[\r\n\x00]")


class InvalidSubscriber(FieldfeedError):
    """An address, name or tag list that cannot be stored."""


def normalize_email(address: str) -> str:
    """The address as stored: email-validator's normalised form with the domain in IDNA
    A-labels (``user@xn--bcher-kva.example`` for ``user@bücher.example``), so it can go in
    a header and an SMTP envelope as it is, and both spellings are one subscriber.

    The one validation the subscribe form, ``subscribers add`` and ``import`` all use.
    Raises InvalidSubscriber, also for non-ASCII before the @: such a mailbox needs
    SMTPUTF8, which fieldfeed does not use (its messages are plain ASCII). No DNS lookups:
    deliverability is the relay's business, and imports must work offline.
    """
    return str(_validate(address).ascii_email)


def _validate(address: str) -> email_validator.ValidatedEmail:
    address = address.strip()
    if not address:
        raise InvalidSubscriber("empty email address")
    if not address.rpartition("@")[0].isascii():
        raise InvalidSubscriber(
            f"email address {address!r} has non-ASCII characters before the @: such "
            "addresses need SMTPUTF8, which fieldfeed does not support; use an ASCII address"
        )
    try:
        return email_validator.validate_email(
            address, check_deliverability=False, allow_smtputf8=False
        )
    except email_validator.EmailNotValidError as exc:
        raise InvalidSubscriber(f"invalid email address {address!r}: {exc}") from None


def _keys(address: str) -> tuple[str, ...]:
    """Lookup keys of ``address``: its stored (A-label) form, and the Unicode-domain form
    that versions before IDNA encoding stored, so those rows are still found."""
    result = _validate(address)
    return tuple({str(result.ascii_email).lower(), str(result.normalized).lower()})


def clean_name(name: str) -> str:
    """The display name as stored: normalised like every header value (other control
    characters and line separators such as U+2028 become a space, see
    :func:`fieldfeed.names.header_text`), so the name shown is the name kept.

    CR, LF and NUL are refused: typed into a name field they are an injection attempt.
    """
    if _CR_LF_NUL.search(name):
        raise InvalidSubscriber(f"name {name.strip()!r} contains control characters (CR, LF, ...)")
    name = header_text(name)
    if len(name) > 200:
        raise InvalidSubscriber("name is longer than 200 characters")
    return name


def parse_tags(text: str | Iterable[str]) -> tuple[str, ...]:
    """Tag slugs from "Databases, distributed-systems" (or a list), deduplicated, in order."""
    items = text.split(",") if isinstance(text, str) else list(text)
    slugs: list[str] = []
    for item in items:
        if not item.strip():
            continue
        slug = tag_slug(item)
        if not slug:
            raise InvalidSubscriber(f"tag {item.strip()!r} has no letters or digits")
        if slug not in slugs:
            slugs.append(slug)
    return tuple(slugs)


def _to_model(row: Any) -> Subscriber:
    return Subscriber(
        id=row.id,
        email=row.email,
        name=row.name,
        tags=tuple(s for s in row.tags.split(",") if s),
        status=row.status,
        created=row.created,
        confirmed=row.confirmed,
    )


def get(engine: Engine | Connection, email: str) -> Subscriber | None:
    """The subscriber with this address (any case), or None. ``email`` must be valid."""
    keys = _keys(email)
    with _conn(engine) as conn:
        row = conn.execute(sa.select(t).where(t.c.email_key.in_(keys))).first()
    return _to_model(row) if row else None


def get_by_id(engine: Engine | Connection, subscriber_id: int) -> Subscriber | None:
    with _conn(engine) as conn:
        row = conn.execute(sa.select(t).where(t.c.id == subscriber_id)).first()
    return _to_model(row) if row else None


def list_all(engine: Engine | Connection, status: str | None = None) -> list[Subscriber]:
    """Every subscriber (optionally of one status), in the order they were added."""
    query = sa.select(t).order_by(t.c.id)
    if status:
        query = query.where(t.c.status == status)
    with _conn(engine) as conn:
        return [_to_model(r) for r in conn.execute(query)]


def active_page(conn: Connection, *, after_id: int, limit: int) -> list[Subscriber]:
    """Up to ``limit`` active subscribers with ids above ``after_id``, by id (for paging)."""
    query = (
        sa.select(t).where(t.c.status == "active", t.c.id > after_id).order_by(t.c.id).limit(limit)
    )
    return [_to_model(r) for r in conn.execute(query)]


def by_ids(conn: Connection, ids: Sequence[int]) -> list[Subscriber]:
    """The subscribers with these ids (any status; an unknown id is left out), 500 a query."""
    found: list[Subscriber] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.extend(_to_model(r) for r in conn.execute(sa.select(t).where(t.c.id.in_(chunk))))
    return found


def first_joined(conn: Connection) -> datetime | None:
    """When the list got its first active subscriber (confirmed, else created), or None.

    The first issue waits for the schedule's first time after this moment.
    """
    # type_coerce: SQLite hands an aggregate back as untyped text; the column type parses it.
    first = sa.type_coerce(sa.func.min(sa.func.coalesce(t.c.confirmed, t.c.created)), UTCDateTime)
    value = conn.execute(sa.select(first).where(t.c.status == "active")).scalar()
    return value if isinstance(value, datetime) else None


def active(conn: Connection) -> list[Subscriber]:
    """Subscribers who get the next issue."""
    query = sa.select(t).where(t.c.status == "active").order_by(t.c.id)
    return [_to_model(r) for r in conn.execute(query)]


def import_status(existing: str | None, incoming: str) -> str:
    """The status an imported row ends with, given the stored one (None: a new address).

    An import is an old list, no proof of new consent, so: a suppressed address stays as it
    is; a suppressing status in the file wins over a pending or active row; a pending row
    stays pending (only its owner's confirmation makes it active); otherwise the stored
    status stays. Only a new address takes the file's status as it is.
    """
    if existing is None:
        return incoming
    if existing in SUPPRESSED:
        return existing
    if incoming in SUPPRESSED:
        return incoming
    return existing


def import_tags(existing: Sequence[str], incoming: Sequence[str]) -> tuple[str, ...]:
    """An existing subscriber's tag filter after an import from another service: merged.

    Tags are a filter (only posts with one of them; none means every post), chosen by the
    reader on the subscribe form or set by hand. Another service's tags never narrow what a
    reader already gets: they are added to a filter, and a reader with no filter (every
    post) keeps none. Our own export replaces instead (it is the whole truth of this list).
    """
    if not existing:
        return ()
    return tuple(dict.fromkeys([*existing, *incoming]))


def upsert(
    engine: Engine | Connection,
    email: str,
    *,
    name: str | None = None,
    tags: Sequence[str] | None = None,
    status: str = "active",
    now: datetime,
) -> tuple[Subscriber, str]:
    """Add a subscriber or update an existing one; returns it and "added"/"updated"/"unchanged".

    ``name`` or ``tags`` left as None keep an existing subscriber's values.

    Adding by hand or by import vouches for consent, so an unsubscribed or bounced address
    becomes active again (the caller says so to the user).
    """
    if status not in STATUSES:
        raise InvalidSubscriber(f"unknown status {status!r}")
    address = normalize_email(email)
    keys = _keys(address)
    clean = clean_name(name) if name is not None else None
    tag_text = ",".join(parse_tags(tags)) if tags is not None else None
    with _begin(engine) as conn:
        row = conn.execute(sa.select(t).where(t.c.email_key.in_(keys))).first()
        if row is None:
            values: dict[str, Any] = {
                "email": address,
                "email_key": address.lower(),
                "name": clean or "",
                "tags": tag_text or "",
                "status": status,
                "created": now,
                "confirmed": now if status == "active" else None,
                "consecutive_bounces": 0,
            }
            new_id = conn.execute(sa.insert(t).values(**values)).inserted_primary_key[0]
            row = conn.execute(sa.select(t).where(t.c.id == new_id)).one()
            return _to_model(row), "added"
        changes: dict[str, Any] = {}
        if clean is not None and row.name != clean:
            changes["name"] = clean
        if tag_text is not None and row.tags != tag_text:
            changes["tags"] = tag_text
        if row.email != address:
            changes.update(email=address, email_key=address.lower())
        if row.status != status:
            changes["status"] = status
            if status == "active":
                changes.update(confirmed=now, unsubscribed_at=None, consecutive_bounces=0)
            elif status == "unsubscribed":
                changes["unsubscribed_at"] = now
        if not changes:
            return _to_model(row), "unchanged"
        conn.execute(sa.update(t).where(t.c.id == row.id).values(**changes))
        row = conn.execute(sa.select(t).where(t.c.id == row.id)).one()
        return _to_model(row), "updated"


def activate_pending(engine: Engine | Connection, subscriber_id: int, *, now: datetime) -> bool:
    """Pending -> active in one conditional UPDATE. True only for the call that changed it.

    Two confirmations racing (a double click, a mail scanner and a person) both see the row,
    but only one UPDATE matches ``status = 'pending'``: the caller that gets True is the one
    that sends the welcome mail, so it goes out once.
    """
    with _begin(engine) as conn:
        result = conn.execute(
            sa.update(t)
            .where(t.c.id == subscriber_id, t.c.status == "pending")
            .values(status="active", confirmed=now, unsubscribed_at=None, consecutive_bounces=0)
        )
    return bool(result.rowcount)


def set_tags(
    engine: Engine | Connection, subscriber_id: int, tags: Sequence[str]
) -> Subscriber | None:
    """Replace the tag filter of a pending or active subscriber (empty: every post).

    Returns the updated subscriber, or None when the id is unknown or no longer subscribed
    (an old preferences link must not change the record of someone who left).
    """
    tag_text = ",".join(parse_tags(tags))
    with _begin(engine) as conn:
        result = conn.execute(
            sa.update(t)
            .where(t.c.id == subscriber_id, t.c.status.in_(("pending", "active")))
            .values(tags=tag_text)
        )
        if not result.rowcount:
            return None
        row = conn.execute(sa.select(t).where(t.c.id == subscriber_id)).one()
    return _to_model(row)


def unsubscribe(engine: Engine | Connection, email: str, *, now: datetime) -> Subscriber | None:
    """Mark an address unsubscribed (kept, so the history and a re-import can see it)."""
    keys = _keys(email)
    with _begin(engine) as conn:
        conn.execute(
            sa.update(t)
            .where(t.c.email_key.in_(keys), t.c.status != "unsubscribed")
            .values(status="unsubscribed", unsubscribed_at=now)
        )
        row = conn.execute(sa.select(t).where(t.c.email_key.in_(keys))).first()
    return _to_model(row) if row else None


def unsubscribe_id(engine: Engine | Connection, subscriber_id: int, *, now: datetime) -> bool:
    """Unsubscribe by id (the signed-token path). True when the status changed."""
    with _begin(engine) as conn:
        result = conn.execute(
            sa.update(t)
            .where(t.c.id == subscriber_id, t.c.status != "unsubscribed")
            .values(status="unsubscribed", unsubscribed_at=now)
        )
    return bool(result.rowcount)


def purge(engine: Engine | Connection, email: str) -> bool:
    """Delete an address and its delivery history. True when it existed."""
    keys = _keys(email)
    with _begin(engine) as conn:
        result = conn.execute(sa.delete(t).where(t.c.email_key.in_(keys)))
    return bool(result.rowcount)


def record_outcome(conn: Connection, subscriber_id: int, *, hard_bounce: bool) -> bool:
    """Count consecutive hard bounces; the second in a row marks the address ``bounced``.

    Returns True when this call changed the status to bounced.
    """
    if not hard_bounce:
        conn.execute(sa.update(t).where(t.c.id == subscriber_id).values(consecutive_bounces=0))
        return False
    conn.execute(
        sa.update(t)
        .where(t.c.id == subscriber_id)
        .values(consecutive_bounces=t.c.consecutive_bounces + 1)
    )
    result = conn.execute(
        sa.update(t)
        .where(t.c.id == subscriber_id, t.c.consecutive_bounces >= 2, t.c.status == "active")
        .values(status="bounced")
    )
    return bool(result.rowcount)


# Accept either an Engine (own transaction) or a Connection (caller's transaction).


class _Borrowed:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        return None


def _conn(bind: Engine | Connection) -> Any:
    return _Borrowed(bind) if isinstance(bind, Connection) else bind.connect()


def _begin(bind: Engine | Connection) -> Any:
    return _Borrowed(bind) if isinstance(bind, Connection) else bind.begin()
