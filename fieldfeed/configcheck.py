"""Checking fieldfeed.toml's tables against the settings records: the generic half of
:mod:`fieldfeed.config`, which holds the records and the rules for each section.

Pure: text and dicts in, records and problems out. Every problem is collected, never raised.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from fieldfeed.errors import Problem

__all__ = [
    "TYPE_NAMES",
    "Where",
    "build_record",
    "expected_type",
    "find_line",
    "is_loopback_host",
    "unsubscribe_scheme_problems",
]

#: (section, key or None) -> the line to name in a message.
Where = Callable[..., int]


def build_record(
    cls: type,
    section: str,
    raw: dict[str, Any],
    shown: str,
    where: Where,
    problems: list[Problem],
    *,
    renames: Mapping[tuple[str, str], str],
    tables: Mapping[tuple[str, str], type],
) -> Any:
    """Make a settings record from a TOML table, type-checking each value against its default.

    Problems are appended to ``problems``; a record with placeholders is returned all the same
    (it is discarded once a problem is reported). ``renames``: (section, TOML key) -> field
    name, where the names differ; ``tables``: (section, key) -> the record of a nested table.
    """
    fields: dict[str, Any] = getattr(cls, "__dataclass_fields__")  # noqa: B009 (mypy: type)
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        name = renames.get((section, key), key)
        nested = tables.get((section, key))
        if nested is not None:
            if not isinstance(value, dict):
                problems.append(
                    Problem(shown, where(section, key), f"[{section}] {key} must be a table")
                )
                continue
            kwargs[name] = build_record(
                nested,
                f"{section}.{key}",
                value,
                shown,
                where,
                problems,
                renames=renames,
                tables=tables,
            )
            continue
        if name not in fields or name == "password":
            hint = (
                " (secrets come from the environment: set password_env)"
                if key == "password"
                else ""
            )
            problems.append(
                Problem(shown, where(section, key), f"[{section}] unknown key {key!r}{hint}")
            )
            continue
        expected = expected_type(cls, name)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if expected is not None and not (
            isinstance(value, expected) and not (expected is int and isinstance(value, bool))
        ):
            problems.append(
                Problem(
                    shown,
                    where(section, key),
                    f"[{section}] {key} must be "
                    f"{TYPE_NAMES.get(expected, expected.__name__)}, got {value!r}",
                )
            )
            continue
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        problems.append(Problem(shown, where(section), f"[{section}] {exc}"))
        # Placeholders for the missing fields: the problem is reported, the record is discarded.
        missing = {k: "" for k in fields if fields[k].default is fields[k].default_factory}
        return cls(**{**missing, **kwargs})


#: How a type is named in messages.
TYPE_NAMES = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}


def expected_type(cls: type, name: str) -> type | None:
    """The scalar type of field ``name`` of record ``cls`` (None: not a scalar)."""
    hint = cls.__annotations__.get(name, "")
    text = hint if isinstance(hint, str) else getattr(hint, "__name__", "")
    return {"str": str, "int": int, "float": float, "bool": bool}.get(text)


def find_line(text: str, section: str, key: str | None = None) -> int:
    """Best-effort 1-based line of ``[section]`` (or of ``key`` inside it) for messages."""
    in_section = False
    section_line = 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            name = stripped.strip("[]").strip()
            in_section = name == section
            if in_section:
                section_line = number
                if key is None:
                    return number
            continue
        if in_section and key and re.match(rf"^{re.escape(key)}\s*=", stripped):
            return number
    return section_line


def unsubscribe_scheme_problems(url: str, transport: str, shown: str, line: int) -> list[Problem]:
    """RFC 8058 one-click unsubscribe needs an https URI: mail that really leaves (smtp) with
    an http ``[digest] unsubscribe_url`` fails that, and Gmail and Yahoo ignore the header.
    http stays allowed for loopback hosts (local test setups) and for the Maildir transport
    (the demo)."""
    from urllib.parse import urlsplit

    if transport != "smtp" or not url.lower().startswith("http://"):
        return []
    if is_loopback_host(urlsplit(url).hostname or ""):
        return []
    message = (
        '[digest] unsubscribe_url must be https:// when [delivery] transport = "smtp" '
        f"(RFC 8058 one-click unsubscribe), got {url!r}"
    )
    return [Problem(shown, line, message)]


def is_loopback_host(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (as urlsplit gives them: lower case, no brackets)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
