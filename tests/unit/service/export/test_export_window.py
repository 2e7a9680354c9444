"""Half-open windows: aware datetimes only, since before until, a cap on the span."""

from __future__ import annotations

import datetime as dt

import pytest

from stats_service.export.errors import WindowError
from stats_service.export.window import (
    Window,
    days_ago,
    iso,
    last_month,
    parse_instant,
    this_day,
    this_month,
    to_ns,
)

UTC = dt.UTC


def test_naive_datetimes_are_refused_with_a_clear_message():
    with pytest.raises(WindowError, match="has no timezone"):
        Window(dt.datetime(2026, 11, 1), dt.datetime(2026, 12, 1, tzinfo=UTC))  # noqa: DTZ001
    with pytest.raises(WindowError, match=r"until .* has no timezone"):
        Window(dt.datetime(2026, 11, 1, tzinfo=UTC), dt.datetime(2026, 12, 1))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("since", "until"),
    [((2026, 12, 1), (2026, 11, 1)), ((2026, 11, 1), (2026, 11, 1))],
    ids=["reversed", "empty"],
)
def test_reversed_or_empty_windows_are_refused(since, until):
    with pytest.raises(WindowError, match="empty or reversed"):
        Window(dt.datetime(*since, tzinfo=UTC), dt.datetime(*until, tzinfo=UTC))


def test_the_cap_refuses_a_longer_window_and_names_the_setting():
    since = dt.datetime(2026, 1, 1, tzinfo=UTC)
    Window.checked(since, since + dt.timedelta(days=31), max_days=31)
    with pytest.raises(WindowError, match="export_max_window_days"):
        Window.checked(since, since + dt.timedelta(days=31, seconds=1), max_days=31)


def test_other_offsets_are_converted_to_utc():
    plus_one = dt.timezone(dt.timedelta(hours=1))
    window = Window(
        dt.datetime(2026, 11, 1, 1, tzinfo=plus_one), dt.datetime(2026, 11, 2, tzinfo=UTC)
    )
    assert window.since == dt.datetime(2026, 11, 1, tzinfo=UTC)
    assert window.since.tzinfo is UTC
    assert window.label() == "[2026-11-01T00:00:00Z, 2026-11-02T00:00:00Z)"
    assert window.slug() == "20261101T000000Z-20261102T000000Z"


def test_nanoseconds_are_exact():
    value = dt.datetime(2026, 11, 1, 0, 0, 0, 123456, tzinfo=UTC)
    assert to_ns(value) == 1_793_491_200_123_456_000
    assert Window(value, value + dt.timedelta(microseconds=1)).until_ns - to_ns(value) == 1000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01", dt.datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T06:30:00Z", dt.datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),
        ("2026-11-01T06:30:00+02:00", dt.datetime(2026, 11, 1, 4, 30, tzinfo=UTC)),
    ],
    ids=["date", "zulu", "offset"],
)
def test_parse_instant(text, expected):
    assert parse_instant(text) == expected


@pytest.mark.parametrize("text", ["2026-11-01T06:30:00", "yesterday", "2026-13-01"])
def test_parse_instant_refuses_naive_or_unreadable_text(text):
    with pytest.raises(WindowError):
        parse_instant(text)


def test_helpers_return_utc_midnights():
    now = dt.datetime(2026, 3, 15, 17, 4, tzinfo=UTC)
    assert this_day(now) == dt.datetime(2026, 3, 15, tzinfo=UTC)
    assert days_ago(15, now) == dt.datetime(2026, 2, 28, tzinfo=UTC)
    assert this_month(now) == dt.datetime(2026, 3, 1, tzinfo=UTC)
    assert last_month(now) == dt.datetime(2026, 2, 1, tzinfo=UTC)
    assert last_month(dt.datetime(2026, 1, 9, tzinfo=UTC)) == dt.datetime(2025, 12, 1, tzinfo=UTC)
    assert iso(now) == "2026-03-15T17:04:00Z"
    with pytest.raises(WindowError):
        this_day(dt.datetime(2026, 3, 15))  # noqa: DTZ001
