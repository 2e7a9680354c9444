"""Moments in UTC for time-window collectors: starts of periods, and periods ago.

Windows are half-open: ``since`` is the first moment inside, ``until`` the
first moment outside, so consecutive windows ``[a, b)``, ``[b, c)`` neither
overlap nor leave a gap. Every function returns a timezone-aware
``datetime`` in UTC; ``relative_to`` (any aware datetime) replaces "now".
Weeks start on Monday. Months are calendar months: ``months_ago(1)`` on
31 March is 1 February (the start of the month one month back), never a
day that does not exist.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

__all__ = [
    "days_ago",
    "hours_ago",
    "iso",
    "last_day",
    "last_hour",
    "last_month",
    "last_week",
    "minutes_ago",
    "months_ago",
    "now",
    "this_day",
    "this_hour",
    "this_minute",
    "this_month",
    "this_week",
    "weeks_ago",
]

UTC = dt.UTC
Clock = Callable[[], dt.datetime]


def _utc(moment: dt.datetime | None) -> dt.datetime:
    if moment is None:
        return now()
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("instants need a timezone-aware datetime, not a naive one")
    return moment.astimezone(UTC)


def now() -> dt.datetime:
    """This moment in UTC."""
    return dt.datetime.now(UTC)


def this_minute(relative_to: dt.datetime | None = None) -> dt.datetime:
    """The start of the current minute."""
    return _utc(relative_to).replace(second=0, microsecond=0)


def this_hour(relative_to: dt.datetime | None = None) -> dt.datetime:
    """The start of the current hour."""
    return _utc(relative_to).replace(minute=0, second=0, microsecond=0)


def this_day(relative_to: dt.datetime | None = None) -> dt.datetime:
    """Midnight UTC of the current day."""
    return _utc(relative_to).replace(hour=0, minute=0, second=0, microsecond=0)


def this_week(relative_to: dt.datetime | None = None) -> dt.datetime:
    """Midnight UTC of the Monday of the current week."""
    day = this_day(relative_to)
    return day - dt.timedelta(days=day.weekday())


def this_month(relative_to: dt.datetime | None = None) -> dt.datetime:
    """Midnight UTC of the first day of the current month."""
    return this_day(relative_to).replace(day=1)


def _check_count(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a whole number >= 0, not {n!r}")


def minutes_ago(n: int, relative_to: dt.datetime | None = None) -> dt.datetime:
    """The start of the minute ``n`` minutes before the current one."""
    _check_count(n)
    return this_minute(relative_to) - dt.timedelta(minutes=n)


def hours_ago(n: int, relative_to: dt.datetime | None = None) -> dt.datetime:
    """The start of the hour ``n`` hours before the current one."""
    _check_count(n)
    return this_hour(relative_to) - dt.timedelta(hours=n)


def days_ago(n: int, relative_to: dt.datetime | None = None) -> dt.datetime:
    """Midnight UTC ``n`` days before today."""
    _check_count(n)
    return this_day(relative_to) - dt.timedelta(days=n)


def weeks_ago(n: int, relative_to: dt.datetime | None = None) -> dt.datetime:
    """The Monday ``n`` weeks before this week's."""
    _check_count(n)
    return this_week(relative_to) - dt.timedelta(weeks=n)


def months_ago(n: int, relative_to: dt.datetime | None = None) -> dt.datetime:
    """The first day of the month ``n`` calendar months before this one."""
    _check_count(n)
    start = this_month(relative_to)
    index = start.year * 12 + (start.month - 1) - n
    return start.replace(year=index // 12, month=index % 12 + 1)


def last_hour(relative_to: dt.datetime | None = None) -> dt.datetime:
    """The start of the previous hour."""
    return hours_ago(1, relative_to)


def last_day(relative_to: dt.datetime | None = None) -> dt.datetime:
    """Midnight UTC of yesterday."""
    return days_ago(1, relative_to)


def last_week(relative_to: dt.datetime | None = None) -> dt.datetime:
    """The Monday of last week."""
    return weeks_ago(1, relative_to)


def last_month(relative_to: dt.datetime | None = None) -> dt.datetime:
    """The first day of last month."""
    return months_ago(1, relative_to)


def iso(moment: dt.datetime) -> str:
    """``moment`` in UTC as ISO 8601 with a ``Z`` (microseconds only when there are some)."""
    text = _utc(moment).isoformat()
    return text.removesuffix("+00:00") + "Z"
