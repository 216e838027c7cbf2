"""Reading a crontab expression: the cron parsing ``[digest] schedule`` is validated with.

Shared ground, because both the config (which checks the expression when it loads) and the
schedule (:mod:`fieldfeed.mail.schedule`, which computes the next time) need it. See that
module for the three differences from crontab(5) in APScheduler 3 that are fixed here and
there; this module fixes the day-of-week numbers and refuses a wrong number of fields.
"""

from __future__ import annotations

import re
from datetime import UTC

from apscheduler.triggers.cron import CronTrigger

from fieldfeed.errors import ConfigError

__all__ = ["cron_days", "trigger"]

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DAY_NUMBER = {name: i for i, name in enumerate(_DAYS)}
_ITEM = re.compile(r"^(\*|[a-z]{3}|\d)(?:-([a-z]{3}|\d))?(?:/(\d+))?$")


def _day(token: str) -> int:
    if token.isdigit():
        value = int(token)
        if value > 7:
            raise ValueError(f"day of week {value} is not 0-7")
        return value % 7  # 7 is Sunday too
    if token not in _DAY_NUMBER:
        raise ValueError(f"unknown day of week {token!r}")
    return _DAY_NUMBER[token]


def cron_days(field: str) -> str:
    """A crontab day-of-week field in APScheduler 3's terms: a list of day names, or "*"."""
    field = field.strip().lower()
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for item in field.split(","):
        m = _ITEM.match(item)
        if not m:
            raise ValueError(f"cannot read day-of-week item {item!r}")
        start, end, step = m.group(1), m.group(2), int(m.group(3) or 1)
        if step < 1:
            raise ValueError("a step must be at least 1")
        if start == "*":
            lo, hi = 0, 6
        else:
            lo = _day(start)
            # "5-7" (Fri-Sun) is legal cron: keep 7 as 7 inside a range.
            hi = (int(end) if end.isdigit() else _day(end)) if end else lo
            if end and end.isdigit() and int(end) > 7:
                raise ValueError(f"day of week {end} is not 0-7")
            if hi < lo:
                raise ValueError(f"range {item!r} runs backwards")
            if not end and m.group(3):
                hi = 6
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(_DAYS[d] for d in sorted(days))


def trigger(expr: str) -> CronTrigger:
    """The APScheduler trigger for a crontab expression over wall-clock time (as UTC).

    Raises ConfigError.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ConfigError(
            f"[digest] schedule: expected 5 cron fields (minute hour day month weekday), "
            f"got {expr!r}"
        )
    try:
        fields[4] = cron_days(fields[4])
        return CronTrigger.from_crontab(" ".join(fields), timezone=UTC)
    except ValueError as exc:
        raise ConfigError(f"[digest] schedule {expr!r}: {exc}") from None
