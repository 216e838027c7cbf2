"""When is a digest due? Pure functions over a cron expression, a timezone and times.

A digest is due when a scheduled time has passed since the last issue was created; the very
first issue is due at once. Cron fields are read as in crontab(5), in the site's timezone, so
"0 8 * * mon" means 08:00 Berlin time in winter and in summer. APScheduler 3 does the
calendar arithmetic on wall-clock time; three of its differences from crontab are fixed here:

- day-of-week numbers (APScheduler 3 counts 0 as Monday, cron as Sunday: its issue #286) are
  translated to names (in :mod:`fieldfeed.cron`, which the config's check shares);
- APScheduler 3.11 with a zoneinfo zone skips fire times whose month or day increment crosses
  a DST change ("0 0 1 * *" in Europe/Berlin after March 1 gives May 1, not April 1). So the
  trigger runs in UTC on *naive wall-clock* times, which have no DST, and the result is then
  placed in the zone. A wall time that does not exist (the spring-forward gap) takes the
  offset from before the change, as PEP 495 does (02:30 becomes 03:30 summer time); a wall
  time that happens twice (fall back) fires once, on its first occurrence;
- an expression with the wrong number of fields is an error, not a guess (:mod:`fieldfeed.cron`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from fieldfeed.cron import trigger
from fieldfeed.errors import ConfigError


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
