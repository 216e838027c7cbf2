"""When is a digest due? Pure functions over a cron expression, a timezone and times.

A digest is due when a scheduled time has passed since the last issue was created; the very
first issue is due at once. Cron fields are read as in crontab(5), in the site's timezone, so
"0 8 * * mon" means 08:00 Berlin time in winter and in summer. APScheduler 3 does the
calendar arithmetic on wall-clock time; three of its differences from crontab are fixed here:

- day-of-week numbers (APScheduler 3 counts 0 as Monday, cron as Sunday: its issue #286) are
  translated to names;
- APScheduler 3.11 with a zoneinfo zone skips fire times whose month or day increment crosses
  a DST change ("0 0 1 * *" in Europe/Berlin after March 1 gives May 1, not April 1). So the
  trigger runs in UTC on *naive wall-clock* times, which have no DST, and the result is then
  placed in the zone. A wall time that does not exist (the spring-forward gap) takes the
  offset from before the change, as PEP 495 does (02:30 becomes 03:30 summer time); a wall
  time that happens twice (fall back) fires once, on its first occurrence;
- an expression with the wrong number of fields is an error, not a guess.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from fieldfeed.errors import ConfigError

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


def next_run(expr: str, tz: tzinfo | str, after: datetime) -> datetime:
    """The first scheduled time strictly after ``after`` (aware, in the schedule's zone)."""
    if after.tzinfo is None:
        raise ValueError("next_run needs an aware datetime")
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    trig = trigger(expr)
    # Wall-clock time in the zone, carried as UTC so APScheduler sees no DST.
    cursor = after.astimezone(zone).replace(tzinfo=UTC)
    for _ in range(10):  # more than one round only around an ambiguous (fall-back) hour
        fire = trig.get_next_fire_time(None, cursor + timedelta(microseconds=1))
        if fire is None:  # only a trigger with an end date can run out
            raise ConfigError(f"[digest] schedule {expr!r} never fires")
        local: datetime = fire.replace(tzinfo=zone)
        if local > after:
            return local
        cursor = fire
    raise ConfigError(f"[digest] schedule {expr!r}: no next time found after {after}")


def is_due(expr: str, tz: tzinfo | str, last_issue: datetime | None, now: datetime) -> bool:
    """Whether a scheduled time has passed since ``last_issue`` (None: the first issue: due)."""
    if last_issue is None:
        return True
    return next_run(expr, tz, last_issue) <= now


def describe(moment: datetime) -> str:
    """A scheduled time as people read it: "Mon 2026-11-30 08:00 CET"."""
    return moment.strftime("%a %Y-%m-%d %H:%M %Z")
