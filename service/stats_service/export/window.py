"""Half-open time windows ``[since, until)`` and the instants that bound them.

``since`` is the first moment inside the window, ``until`` the first moment
after it, so consecutive windows (``[Nov 1, Dec 1)``, ``[Dec 1, Jan 1)``)
never lose or repeat the last second of a day. Both must be timezone-aware:
a naive datetime is a :class:`~stats_service.export.errors.WindowError`, never
silently taken as local time. Every helper returns UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from stats_service.export.errors import WindowError

__all__ = [
    "Window",
    "days_ago",
    "iso",
    "last_month",
    "parse_instant",
    "this_day",
    "this_month",
    "to_ns",
]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US_PER_SECOND = 1_000_000


def _require_aware(name: str, value: dt.datetime) -> None:
    if not isinstance(value, dt.datetime):
        raise WindowError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise WindowError(
            f"{name} {value.isoformat()} has no timezone; pass an aware datetime "
            "(e.g. datetime(..., tzinfo=UTC))"
        )


def to_ns(value: dt.datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime (exact, no float rounding)."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


@dataclass(frozen=True, slots=True)
class Window:
    """A validated half-open window; both ends are converted to UTC."""

    since: dt.datetime
    until: dt.datetime

    def __post_init__(self) -> None:
        _require_aware("since", self.since)
        _require_aware("until", self.until)
        if self.until <= self.since:
            raise WindowError(
                f"the window is empty or reversed: since {iso(self.since)} is not before "
                f"until {iso(self.until)}"
            )
        object.__setattr__(self, "since", self.since.astimezone(dt.UTC))
        object.__setattr__(self, "until", self.until.astimezone(dt.UTC))

    @classmethod
    def checked(
        cls, since: dt.datetime, until: dt.datetime, *, max_days: float | None = None
    ) -> Window:
        """The window, refused when it spans more than ``max_days``."""
        window = cls(since, until)
        if max_days is not None and window.until - window.since > dt.timedelta(days=max_days):
            raise WindowError(
                f"the window {window.label()} spans {window.days():g} days, over the cap of "
                f"{max_days:g} (setting export_max_window_days)"
            )
        return window

    @property
    def since_ns(self) -> int:
        """``since`` in epoch nanoseconds (included)."""
        return to_ns(self.since)

    @property
    def until_ns(self) -> int:
        """``until`` in epoch nanoseconds (excluded)."""
        return to_ns(self.until)

    def days(self) -> float:
        """The length in days."""
        return (self.until - self.since).total_seconds() / 86_400

    def label(self) -> str:
        """``[since, until)`` in ISO 8601, for messages and report headers."""
        return f"[{iso(self.since)}, {iso(self.until)})"

    def slug(self) -> str:
        """A file-name-safe form: ``20261101T000000Z-20261201T000000Z``."""
        return f"{_compact(self.since)}-{_compact(self.until)}"


def _compact(value: dt.datetime) -> str:
    text = value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


def iso(value: dt.datetime) -> str:
    """ISO 8601 in UTC with a ``Z``: ``2026-11-01T00:00:00Z``."""
    _require_aware("instant", value)
    text = value.astimezone(dt.UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def parse_instant(text: str) -> dt.datetime:
    """A command-line instant: a date (midnight UTC) or an ISO 8601 time with an offset.

    ``2026-11-01`` is midnight UTC; ``2026-11-01T06:00:00+01:00`` and
    ``...Z`` keep their offset. A time without an offset is refused.
    """
    stripped = text.strip()
    try:
        if len(stripped) == 10:
            day = dt.date.fromisoformat(stripped)
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        value = dt.datetime.fromisoformat(stripped)
    except ValueError:
        raise WindowError(
            f"{text!r} is not a date (2026-11-01) or an ISO 8601 time with an offset"
        ) from None
    if value.tzinfo is None:
        raise WindowError(f"{text!r} has no timezone offset; add Z or +HH:MM")
    return value.astimezone(dt.UTC)


def this_day(now: dt.datetime) -> dt.datetime:
    """Midnight UTC of ``now``'s day."""
    _require_aware("now", now)
    utc = now.astimezone(dt.UTC)
    return dt.datetime(utc.year, utc.month, utc.day, tzinfo=dt.UTC)


def days_ago(n: int, now: dt.datetime) -> dt.datetime:
    """Midnight UTC ``n`` days before ``now``'s day."""
    return this_day(now) - dt.timedelta(days=n)


def this_month(now: dt.datetime) -> dt.datetime:
    """Midnight UTC of the first of ``now``'s month."""
    day = this_day(now)
    return day.replace(day=1)


def last_month(now: dt.datetime) -> dt.datetime:
    """Midnight UTC of the first of the month before ``now``'s."""
    first = this_month(now)
    return (first - dt.timedelta(days=1)).replace(day=1)
