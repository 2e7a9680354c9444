"""The instants helpers: UTC starts of periods and periods ago, at month and year edges."""

from __future__ import annotations

import datetime as dt

import pytest

from stats_client.collect import instants

UTC = dt.UTC


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


MOMENT = at(2026, 3, 31, 23, 59, 59, 999_999)  # a Tuesday, the last instant of March


def test_now_is_aware_utc():
    moment = instants.now()
    assert moment.tzinfo is UTC
    assert abs((dt.datetime.now(UTC) - moment).total_seconds()) < 5


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (instants.this_minute, at(2026, 3, 31, 23, 59)),
        (instants.this_hour, at(2026, 3, 31, 23)),
        (instants.this_day, at(2026, 3, 31)),
        (instants.this_week, at(2026, 3, 30)),
        (instants.this_month, at(2026, 3, 1)),
        (instants.last_hour, at(2026, 3, 31, 22)),
        (instants.last_day, at(2026, 3, 30)),
        (instants.last_week, at(2026, 3, 23)),
        (instants.last_month, at(2026, 2, 1)),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_period_starts_at_the_end_of_a_month(function, expected):
    assert function(MOMENT) == expected
    assert function(MOMENT).tzinfo is UTC


@pytest.mark.parametrize(
    ("function", "n", "expected"),
    [
        (instants.minutes_ago, 60, at(2026, 3, 31, 22, 59)),
        (instants.hours_ago, 24, at(2026, 3, 30, 23)),
        (instants.days_ago, 31, at(2026, 2, 28)),
        (instants.weeks_ago, 2, at(2026, 3, 16)),
        (instants.months_ago, 1, at(2026, 2, 1)),
        (instants.months_ago, 3, at(2025, 12, 1)),
        (instants.months_ago, 15, at(2024, 12, 1)),
        (instants.months_ago, 0, at(2026, 3, 1)),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_periods_ago(function, n, expected):
    assert function(n, MOMENT) == expected


def test_the_first_instant_of_a_year_belongs_to_the_new_year():
    new_year = at(2027, 1, 1)
    assert instants.this_month(new_year) == new_year
    assert instants.last_month(new_year) == at(2026, 12, 1)
    assert instants.this_day(new_year - dt.timedelta(microseconds=1)) == at(2026, 12, 31)
    assert instants.this_week(new_year) == at(2026, 12, 28)  # a Friday: back to Monday


def test_leap_day_and_march():
    assert instants.days_ago(1, at(2028, 3, 1, 0, 0, 1)) == at(2028, 2, 29)
    assert instants.months_ago(1, at(2028, 3, 31, 12)) == at(2028, 2, 1)


def test_other_timezones_are_converted_to_utc_first():
    plus_two = dt.timezone(dt.timedelta(hours=2))
    local_midnight = dt.datetime(2026, 4, 1, 0, 30, tzinfo=plus_two)  # 22:30 UTC on 31 March
    assert instants.this_day(local_midnight) == at(2026, 3, 31)
    assert instants.this_month(local_midnight) == at(2026, 3, 1)


def test_consecutive_windows_meet_exactly():
    since, until = instants.last_day(MOMENT), instants.this_day(MOMENT)
    assert until - since == dt.timedelta(days=1)
    assert instants.last_day(until) == since


def test_naive_datetimes_and_bad_counts_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        instants.this_hour(dt.datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="whole number"):
        instants.days_ago(-1, MOMENT)
    with pytest.raises(ValueError, match="whole number"):
        instants.hours_ago(True, MOMENT)


def test_iso_is_utc_with_z():
    assert instants.iso(at(2026, 3, 1)) == "2026-03-01T00:00:00Z"
    assert instants.iso(at(2026, 3, 1, 0, 0, 0, 5)) == "2026-03-01T00:00:00.000005Z"
    plus_one = dt.timezone(dt.timedelta(hours=1))
    assert instants.iso(dt.datetime(2026, 3, 1, 1, tzinfo=plus_one)) == "2026-03-01T00:00:00Z"
