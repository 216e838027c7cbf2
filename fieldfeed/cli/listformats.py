"""Reading mailing-list exports: fieldfeed's own CSV, Mailchimp, Substack, Buttondown, Ghost.

Each service's export is read as it comes, recognised by its header row, and turned into
:class:`ListRow` values (address, name, tags, status in fieldfeed's terms). Pure: text in,
rows and ``FILE:LINE: reason`` messages out; the store is written elsewhere
(``cli/subscribers.py``).

What the exports look like (checked 2026-11 in the services' own documentation and in
public migration tools; real exports carry more columns, which are ignored):

- **Mailchimp** (Audience > Export audience): a ZIP with one CSV per status, subscribed,
  unsubscribed and cleaned (hard bounces, or repeated soft bounces), UTF-8 with a BOM and
  CRLF line ends. Header ``"Email Address","First Name","Last Name",...,"MEMBER_RATING",
  "OPTIN_TIME","OPTIN_IP","CONFIRM_TIME","CONFIRM_IP",...,"LAST_CHANGED","LEID","EUID",
  "NOTES","TAGS"``; the unsubscribed file adds ``UNSUB_TIME``, ``UNSUB_CAMPAIGN_TITLE``,
  ``UNSUB_CAMPAIGN_ID``, ``UNSUB_REASON``, ``UNSUB_REASON_OTHER``, the cleaned file
  ``CLEAN_TIME``, ``CLEAN_CAMPAIGN_TITLE``, ``CLEAN_CAMPAIGN_ID``. So the status comes from
  those columns (a ``STATUS`` column, as some exports have, is honoured too). ``TAGS`` holds
  quoted names: ``"a","b"``.
- **Substack** (Settings > Export): ``email,active_subscription,expiry,plan,email_disabled,
  created_at,first_payment_at,...``. ``active_subscription`` is about *paid* access (free
  readers are still mailed); ``email_disabled=true`` means the reader gets no email.
- **Buttondown** (Subscribers > Export): ``email`` (``email_address`` in API-shaped files),
  ``creation_date``, ``notes``, ``metadata``, ``tags`` and ``type`` (``subscriber_type`` in
  older exports). Types per docs.buttondown.com/api-subscribers-type: regular, premium,
  trialed, gifted, churning, paused, unpaid (all mailed), unactivated (not yet confirmed),
  unsubscribed, undeliverable, complained, blocked and spammy (the last two were held by
  Buttondown's firewall and never became subscribers).
- **Ghost** (Members > Export): ``id,email,name,note,subscribed_to_emails,
  complimentary_plan,stripe_customer_id,created_at,deleted_at,labels,tiers`` (ghost.org/help/
  import-members); ``subscribed_to_emails`` is ``true``/``false``; ``labels`` is one cell,
  comma-separated. Newer exports may add ``email_disabled`` (Ghost stops mail to an address
  that bounced or complained).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fieldfeed.cli.csvcells import restore
from fieldfeed.errors import FieldfeedError

FORMATS = ("auto", "fieldfeed", "mailchimp", "substack", "buttondown", "ghost")


@dataclass(frozen=True, slots=True)
class ListRow:
    """One address read from an export, in fieldfeed's terms."""

    line: int  #: 1-based line of the file where the row starts
    email: str  #: as written in the file (validated and normalised by the store)
    name: str | None  #: None: the file has no name for it (a stored name stays)
    tags: tuple[str, ...] | None  #: None: the file has no tags column
    status: str  #: one of store.subscribers.STATUSES


@dataclass(frozen=True, slots=True)
class ListFile:
    """What one export holds: its format, the good rows, and the problems."""

    format: str
    rows: tuple[ListRow, ...]
    #: ``FILE:LINE: reason`` per row that cannot be imported (stops the import by default).
    errors: tuple[str, ...]
    #: ``FILE:LINE: reason`` per row left out on purpose (never subscribed); not an error.
    skipped: tuple[str, ...]


class _Skip(Exception):
    """A row deliberately not imported (say why)."""


class _Bad(Exception):
    """A row that cannot be read (say why)."""


def parse_list(text: str, path: str, fmt: str = "auto") -> ListFile:
    """Read an export's text (BOM already removed or not) as ``fmt`` ("auto": by header).

    Raises FieldfeedError when the file as a whole cannot be read (an unknown header with
    ``--format auto``, or a recognised header missing a column the status depends on).
    """
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[tuple[int, list[str]]] = []
    next_line = 1
    for record in reader:
        line, next_line = next_line, reader.line_num + 1
        if any(cell.strip() for cell in record):
            records.append((line, record))
    if not records:
        return ListFile(fmt if fmt != "auto" else "fieldfeed", (), (), ())
    header_line, header = records[0]
    columns = [c.strip().lstrip("\ufeff").lower() for c in header]
    detected = detect_format(columns)
    # Our own format may come without a header row: email,name,tags (as 0.1 read it).
    headerless = detected is None and "@" in header[0]
    if fmt == "auto":
        if detected is None and not headerless:
            raise FieldfeedError(
                f"{path}:{header_line}: not a list export fieldfeed knows (header: "
                f"{','.join(header)[:80]}); pass --format, or use columns email,name,tags,status"
            )
        fmt = detected or "fieldfeed"
    if fmt == "fieldfeed" and headerless:
        # Our own format without a header row: email,name,tags (as versions before 0.2 read).
        index = {"email": 0, "name": 1, "tags": 2}
        body = records
    else:
        if detected != fmt:
            raise FieldfeedError(
                f"{path}:{header_line}: the header does not look like a {fmt} export"
                + (f" (it looks like {detected})" if detected else "")
            )
        index = {name: i for i, name in enumerate(columns) if name}
        body = records[1:]
    read_row = _READERS[fmt]
    _check_columns(fmt, index, path, header_line)
    rows: list[ListRow] = []
    errors: list[str] = []
    skipped: list[str] = []
    for line, record in body:
        if fmt == "fieldfeed" and len(record) > len(index):
            errors.append(f"{path}:{line}: {len(record)} fields, expected {len(index)}")
            continue
        cells = _Cells(record, index)
        try:
            rows.append(read_row(line, cells))
        except _Skip as exc:
            skipped.append(f"{path}:{line}: {exc}")
        except _Bad as exc:
            errors.append(f"{path}:{line}: {exc}")
    return ListFile(fmt, tuple(rows), tuple(errors), tuple(skipped))


def detect_format(columns: Sequence[str]) -> str | None:
    """The export a (lower-cased) header row belongs to, or None."""
    names = set(columns)
    if "email address" in names:
        return "mailchimp"
    if "subscribed_to_emails" in names:
        return "ghost"
    if {"active_subscription", "email_disabled"} & names and "email" in names:
        return "substack"
    if {"email", "email_address"} & names and {"type", "subscriber_type"} & names:
        return "buttondown"
    if "email" in names and names <= {"email", "name", "tags", "status", ""}:
        return "fieldfeed"
    return None


def _check_columns(fmt: str, index: dict[str, int], path: str, line: int) -> None:
    """A header we recognise but without a column the statuses depend on: refuse the file
    (a header row is never a "bad row"), since guessing would mail people who left."""
    required: dict[str, list[tuple[str, ...]]] = {
        "fieldfeed": [("email",)],
        "mailchimp": [("email address",)],
        "substack": [("email",), ("email_disabled",)],
        "buttondown": [("email", "email_address"), ("type", "subscriber_type")],
        "ghost": [("email",), ("subscribed_to_emails",)],
    }
    for options in required[fmt]:
        if not any(name in index for name in options):
            raise FieldfeedError(
                f"{path}:{line}: {fmt} export without a {options[0]} column; "
                "export again with every column (nothing imported)"
            )


class _Cells:
    """A record's cells by column name ("" for a missing column or cell)."""

    def __init__(self, record: list[str], index: dict[str, int]) -> None:
        self.record = record
        self.index = index

    def has(self, name: str) -> bool:
        return name in self.index

    def get(self, *names: str) -> str:
        for name in names:
            i = self.index.get(name)
            if i is not None:
                return self.record[i].strip() if i < len(self.record) else ""
        return ""


def _flag(value: str, column: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise _Bad(f"{column}: expected true or false, got {value!r}")


def _name(cells: _Cells, *columns: str) -> str | None:
    """The name from these columns joined, or None if there is none (never erases one)."""
    if not any(cells.has(c) for c in columns):
        return None
    name = " ".join(part for part in (cells.get(c) for c in columns) if part)
    return name or None


def _split_tags(text: str) -> tuple[str, ...]:
    """``a, b`` or ``"a","b"`` (Mailchimp) or ``['a', 'b']`` (API-shaped) -> names."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1].replace("'", '"')
    if not text:
        return ()
    cells = next(csv.reader([text], skipinitialspace=True), [])
    return tuple(c.strip().strip('"') for c in cells if c.strip().strip('"'))


def _fieldfeed(line: int, cells: _Cells) -> ListRow:
    # restore(): undo export's formula guard ('=x -> =x), so it never piles up.
    status = restore(cells.get("status")) or "active"
    if status not in ("pending", "active", "unsubscribed", "bounced", "complained"):
        raise _Bad(f"unknown status {status!r}")
    name = restore(cells.get("name")) if cells.has("name") else None
    tags = _split_tags(restore(cells.get("tags"))) if cells.has("tags") else None
    return ListRow(line, restore(cells.get("email")), name or None, tags, status)


#: Mailchimp's member statuses (a STATUS column, when there is one).
_MAILCHIMP = {"subscribed": "active", "unsubscribed": "unsubscribed", "cleaned": "bounced"}
_MAILCHIMP_PENDING = {"pending"}
_MAILCHIMP_NEVER = {"transactional", "nonsubscribed", "archived"}


def _mailchimp(line: int, cells: _Cells) -> ListRow:
    if cells.has("status"):
        value = cells.get("status").lower()
        if value in _MAILCHIMP_NEVER:
            raise _Skip(f"Mailchimp status {value}: never subscribed, not imported")
        status = "pending" if value in _MAILCHIMP_PENDING else _MAILCHIMP.get(value, "")
        if not status:
            raise _Bad(f"unknown Mailchimp status {value!r}")
    elif cells.has("clean_time"):
        status = "bounced"  # the cleaned file
    elif cells.has("unsub_time"):
        status = "unsubscribed"
    else:
        status = "active"
    tags = _split_tags(cells.get("tags")) if cells.has("tags") else None
    name = _name(cells, "first name", "last name")
    return ListRow(line, cells.get("email address"), name, tags, status)


def _substack(line: int, cells: _Cells) -> ListRow:
    disabled = _flag(cells.get("email_disabled"), "email_disabled")
    return ListRow(
        line,
        cells.get("email"),
        _name(cells, "name"),
        None,
        "unsubscribed" if disabled else "active",
    )


#: Buttondown subscriber types -> fieldfeed status; None: not imported (never subscribed).
_BUTTONDOWN: dict[str, str | None] = {
    "regular": "active",
    "premium": "active",
    "trialed": "active",
    "gifted": "active",
    "churning": "active",
    "paused": "active",
    "unpaid": "active",
    "unactivated": "pending",
    "unsubscribed": "unsubscribed",
    "undeliverable": "bounced",
    "complained": "complained",
    "blocked": None,
    "spammy": None,
}


def _buttondown(line: int, cells: _Cells) -> ListRow:
    kind = cells.get("type", "subscriber_type").lower()
    if kind not in _BUTTONDOWN:
        raise _Bad(f"unknown Buttondown subscriber type {kind!r}")
    status = _BUTTONDOWN[kind]
    if status is None:
        raise _Skip(f"Buttondown type {kind}: held by its spam firewall, not imported")
    tags = _split_tags(cells.get("tags")) if cells.has("tags") else None
    return ListRow(line, cells.get("email", "email_address"), _name(cells, "name"), tags, status)


def _ghost(line: int, cells: _Cells) -> ListRow:
    subscribed = _flag(cells.get("subscribed_to_emails"), "subscribed_to_emails")
    disabled = cells.get("email_disabled")
    if cells.get("deleted_at"):
        status = "unsubscribed"  # a deleted member left
    elif disabled and _flag(disabled, "email_disabled"):
        status = "bounced"  # Ghost disables email after a bounce or a spam complaint
    else:
        status = "active" if subscribed else "unsubscribed"
    tags = _split_tags(cells.get("labels")) if cells.has("labels") else None
    return ListRow(line, cells.get("email"), _name(cells, "name"), tags, status)


_READERS: dict[str, Callable[[int, _Cells], ListRow]] = {
    "fieldfeed": _fieldfeed,
    "mailchimp": _mailchimp,
    "substack": _substack,
    "buttondown": _buttondown,
    "ghost": _ghost,
}
