"""Digest schedules: crontab semantics in the site's timezone, across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldfeed.cron import cron_days
from fieldfeed.errors import ConfigError
from fieldfeed.mail.schedule import describe, is_due, next_run

BERLIN = ZoneInfo("Europe/Berlin")


def test_weekday_numbers_follow_crontab_not_apscheduler() -> None:
    assert cron_days("1") == "mon"
    assert cron_days("0") == cron_days("7") == "sun"
    assert cron_days("1-5") == "mon,tue,wed,thu,fri"
    assert cron_days("mon-fri") == "mon,tue,wed,thu,fri"
    assert cron_days("5-7") == "sun,fri,sat"
    assert cron_days("*/2") == "sun,tue,thu,sat"
    assert cron_days("*") == "*"
    # Thursday 2026-11-26 12:00 Berlin: "1" is the next Monday, never Tuesday.
    after = datetime(2026, 11, 26, 12, 0, tzinfo=BERLIN)
    assert next_run("0 8 * * 1", "Europe/Berlin", after) == datetime(
        2026, 11, 30, 8, 0, tzinfo=BERLIN
    )
    assert next_run("0 8 * * 0", "Europe/Berlin", after).weekday() == 6


def test_local_time_holds_across_dst() -> None:
    # Berlin leaves summer time on Sunday 2026-10-25.
    before = datetime(2026, 10, 13, 12, 0, tzinfo=UTC)
    first = next_run("0 8 * * mon", "Europe/Berlin", before)
    second = next_run("0 8 * * mon", "Europe/Berlin", first)
    assert first.astimezone(BERLIN).hour == second.astimezone(BERLIN).hour == 8
    assert first.astimezone(UTC).hour == 6 and second.astimezone(UTC).hour == 7
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(days=7, hours=1)
    # A time that does not exist on spring-forward day (02:30 on 2027-03-28) does not loop.
    spring = next_run("30 2 * * *", "Europe/Berlin", datetime(2027, 3, 27, 12, tzinfo=UTC))
    assert spring > datetime(2027, 3, 27, 12, tzinfo=UTC)


def test_month_boundary_across_dst_is_not_skipped() -> None:
    # APScheduler 3.11 with a zoneinfo zone answers May 1 here.
    after = datetime(2020, 3, 1, 0, 0, tzinfo=UTC)
    assert next_run("0 0 1 * *", BERLIN, after) == datetime(2020, 4, 1, 0, 0, tzinfo=BERLIN)
    # Fall back (2026-10-25): 02:30 happens twice and fires once.
    day = datetime(2026, 10, 24, 12, tzinfo=UTC)
    first = next_run("30 2 * * *", BERLIN, day)
    assert first.fold == 0 and first.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert next_run("30 2 * * *", BERLIN, first).day == 26


def test_is_due() -> None:
    last = datetime(2026, 11, 23, 8, 0, 5, tzinfo=BERLIN)  # Monday's issue
    assert is_due("0 8 * * mon", "Europe/Berlin", None, last)  # first issue: at once
    assert not is_due(
        "0 8 * * mon", "Europe/Berlin", last, datetime(2026, 11, 30, 7, 59, tzinfo=BERLIN)
    )
    assert is_due("0 8 * * mon", "Europe/Berlin", last, datetime(2026, 11, 30, 8, 0, tzinfo=BERLIN))
    # A run missed for weeks is due once, not once per missed Monday (the caller sends one issue).
    assert is_due("0 8 * * mon", "Europe/Berlin", last, datetime(2027, 1, 1, tzinfo=BERLIN))
    nxt = next_run("0 8 * * mon", "Europe/Berlin", last)
    assert describe(nxt) == "Mon 2026-11-30 08:00 CET"


def test_bad_expressions_are_config_errors() -> None:
    for expr in ("0 8 * *", "0 8 * * funday", "61 8 * * *", "0 8 * * 9", "0 8 * * 5-2"):
        with pytest.raises(ConfigError, match="schedule"):
            next_run(expr, "UTC", datetime(2026, 1, 1, tzinfo=UTC))


@given(
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from(["0 8 * * mon", "30 2 * * *", "15 */6 * * 1-5", "0 0 1 * *"]),
)
def test_next_run_is_strictly_later_and_matches(after: datetime, expr: str) -> None:
    nxt = next_run(expr, BERLIN, after)
    assert nxt > after
    assert nxt - after <= timedelta(days=32)
    assert nxt.astimezone(BERLIN).minute == int(expr.split()[0])
