"""``subscribers import``: what an export does to the list, decided before anything is written.

:func:`load_list` reads and validates a file (every bad row as ``FILE:LINE: reason``);
:func:`plan_import` compares each row with the stored subscriber and says what would change
(the same plan is printed by ``--dry-run`` and applied by a real run, so the two cannot
disagree); :func:`apply_import` writes it in one transaction.

The rules (PRODUCT.md, issue 9): an import never makes a non-active address active; a
suppressing status (unsubscribed, bounced/cleaned, complained) wins over an active or
pending row; a pending row stays pending; an empty or missing name never erases a name.
Tags from another service are merged into a reader's filter, never narrowing it
(:func:`fieldfeed.store.subscribers.import_tags`); our own export replaces them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fieldfeed.cli.listformats import ListFile, ListRow, parse_list
from fieldfeed.errors import FieldfeedError
from fieldfeed.model import Subscriber

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

#: Plan actions, in the order the summary names them.
ACTIONS = ("added", "updated", "suppressed", "unchanged", "kept suppressed")


@dataclass(frozen=True, slots=True)
class Change:
    """What importing one row does: ``action`` is one of ACTIONS."""

    action: str
    email: str
    name: str
    tags: tuple[str, ...]
    status: str
    was: str | None  #: the stored status before, None for a new address


def load_list(file: Path, fmt: str) -> ListFile:
    """Read ``file`` as ``fmt`` and validate every row (address, name, tags, duplicates)."""
    from fieldfeed.store import subscribers as subs  # lazy: SQLAlchemy

    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FieldfeedError(f"{file}: no such file") from None
    except UnicodeDecodeError as exc:
        raise FieldfeedError(f"{file}: not UTF-8 (byte {exc.start})") from None
    listing = parse_list(text, str(file), fmt)
    rows: list[ListRow] = []
    errors = list(listing.errors)
    seen: dict[str, int] = {}
    for row in listing.rows:
        try:
            email = subs.normalize_email(row.email)
            name = subs.clean_name(row.name) if row.name is not None else None
            tags = subs.parse_tags(row.tags) if row.tags is not None else None
        except subs.InvalidSubscriber as exc:
            errors.append(f"{file}:{row.line}: {exc}")
            continue
        key = email.lower()
        if key in seen:
            errors.append(f"{file}:{row.line}: {row.email} already appears on line {seen[key]}")
            continue
        seen[key] = row.line
        rows.append(ListRow(row.line, email, name or None, tags, row.status))
    errors.sort(key=lambda message: int(message[len(str(file)) + 1 :].split(":", 1)[0]))
    return ListFile(listing.format, tuple(rows), tuple(errors), listing.skipped)


def plan_row(existing: Subscriber | None, row: ListRow, *, replace_tags: bool) -> Change:
    """What importing ``row`` does to ``existing`` (pure)."""
    from fieldfeed.store import subscribers as subs  # lazy: SQLAlchemy

    if existing is None:
        action = "suppressed" if row.status in subs.SUPPRESSED else "added"
        return Change(action, row.email, row.name or "", row.tags or (), row.status, None)
    status = subs.import_status(existing.status, row.status)
    name = row.name if row.name is not None else existing.name
    if row.tags is None:
        tags = existing.tags
    elif replace_tags:
        tags = row.tags
    else:
        tags = subs.import_tags(existing.tags, row.tags)
    if status in subs.SUPPRESSED and existing.status not in subs.SUPPRESSED:
        action = "suppressed"
    elif existing.status in subs.SUPPRESSED and row.status not in subs.SUPPRESSED:
        action = "kept suppressed"  # the file says subscribed; they left here
    elif (name, tags, status) != (existing.name, existing.tags, existing.status):
        action = "updated"
    else:
        action = "unchanged"
    return Change(action, row.email, name, tags, status, existing.status)


def plan_import(
    conn: Connection | None, listing: ListFile, *, ignore_tags: bool = False
) -> list[Change]:
    """A :class:`Change` per row, against the list as stored now (reads only; ``conn``
    None: there is no list yet).

    The stored list is read once (a query per row was most of a 10,000-row dry run); an
    address with an IDNA domain is looked up one by one, since rows stored before domains
    were IDNA-encoded are keyed by the Unicode form (``subscribers.get`` knows both).
    """
    from fieldfeed.store import subscribers as subs  # lazy: SQLAlchemy

    stored = {s.email.lower(): s for s in subs.list_all(conn)} if conn is not None else {}
    changes = []
    for row in listing.rows:
        if ignore_tags:
            row = ListRow(row.line, row.email, row.name, None, row.status)
        key = row.email.lower()
        existing = stored.get(key)
        if conn is not None and "xn--" in key:
            existing = subs.get(conn, row.email)
        changes.append(plan_row(existing, row, replace_tags=listing.format == "fieldfeed"))
    return changes


def apply_import(conn: Connection, changes: list[Change], now: datetime) -> None:
    """Write a plan (the caller's transaction: all of it or nothing)."""
    from fieldfeed.store import subscribers as subs  # lazy: SQLAlchemy

    for change in changes:
        if change.action == "unchanged":
            continue
        subs.upsert(
            conn, change.email, name=change.name, tags=change.tags, status=change.status, now=now
        )


def summary(changes: list[Change], *, dry_run: bool) -> str:
    """``3 added, 1 updated, ...`` (``would add 3, ...`` for a dry run)."""
    counts = {action: 0 for action in ACTIONS}
    for change in changes:
        counts[change.action] += 1
    if dry_run:
        verbs = {
            "added": "would add",
            "updated": "would update",
            "suppressed": "would suppress",
            "unchanged": "would leave unchanged",
            "kept suppressed": "would keep suppressed",
        }
        return ", ".join(f"{verbs[a]} {counts[a]}" for a in ACTIONS)
    return ", ".join(f"{counts[a]} {a}" for a in ACTIONS)
