"""Event times: ISO 8601 strings and epoch seconds to nanoseconds, and back."""

from __future__ import annotations

import math
import re
from datetime import date, time

from stats_service.errors import InvalidEvent
from stats_service.events.messages import json_type, show

__all__ = ["UTC_SECONDS_MAX", "cached_utc_ns", "format_time", "parse_time", "utc_seconds"]

_ISO_RE = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})"  # date
    r"(?:[Tt ]([0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,]([0-9]{1,9}))?)?)"  # time, fraction
    r"([Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"  # UTC offset
)
# The form clients send most (``format_time``'s): its whole seconds are cached.
_UTC_RE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,9}))?Z")
UTC_SECONDS_MAX = 4096
utc_seconds: dict[str, int] = {}
"""Seconds since the epoch of recently seen ``YYYY-MM-DDTHH:MM:SS`` texts; bounded."""
_NS_PER_SECOND = 1_000_000_000
_MAX_TIME_NS = 2**63 - 1  # exclusive bound: the largest time InfluxDB stores is 2**63 - 2
_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()


def parse_time(value: object, *, key: str = "time") -> int:
    """Nanoseconds since the Unix epoch for an ISO 8601 string or epoch seconds.

    Strings look like ``2016-04-25T12:29:48.844949259Z``,
    ``2024-01-02T03:04:05+01:00`` or ``2024-01-02 03:04:05``; a missing offset
    means UTC and up to nine fraction digits are kept exactly. Numbers
    (``int`` or finite ``float``, never ``bool``) are seconds since the epoch.
    The result lies in ``[0, 2**63 - 1)``, i.e. from 1970 to 2262; anything
    else raises :class:`InvalidEvent` with ``key``.
    """
    if isinstance(value, str):
        time_ns = _parse_iso(value, key)
    elif isinstance(value, bool):
        raise InvalidEvent(
            f"{key} must be an ISO 8601 string or epoch seconds, got a boolean", key=key
        )
    elif isinstance(value, int):
        time_ns = value * _NS_PER_SECOND
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidEvent(f"{key} must be a finite number of epoch seconds", key=key)
        seconds = math.floor(value)
        time_ns = seconds * _NS_PER_SECOND + round((value - seconds) * _NS_PER_SECOND)
    else:
        raise InvalidEvent(
            f"{key} must be an ISO 8601 string or epoch seconds, got {json_type(value)}",
            key=key,
        )
    if not 0 <= time_ns < _MAX_TIME_NS:
        raise InvalidEvent(
            f"{key} is out of range: times must lie between 1970-01-01T00:00:00Z "
            f"and {format_time(_MAX_TIME_NS - 1)}",
            key=key,
        )
    return time_ns


def cached_utc_ns(text: str) -> int | None:
    """:func:`parse_time` of ``text`` when it has ``format_time``'s shape and cached seconds.

    That is the shape the SDK sends, ``YYYY-MM-DDTHH:MM:SS.fffffffffZ``; its
    whole seconds are cached once a text of that second has been parsed. The
    answer is then found without a pattern; for anything else it is None.
    """
    if len(text) != 30 or text[19] != "." or text[29] != "Z":
        return None
    seconds = utc_seconds.get(text[:19])
    fraction = text[20:29]
    if seconds is None or not fraction.isascii() or not fraction.isdigit():
        return None
    time_ns = seconds * _NS_PER_SECOND + int(fraction)
    return time_ns if 0 <= time_ns < _MAX_TIME_NS else None


def _parse_iso(text: str, key: str) -> int:
    """Nanoseconds since the epoch for one ISO 8601 date or date-time string.

    The pattern fixes the shape; the C parsers of :mod:`datetime` check the
    ranges (month, day of month, hour...); the fraction is read here because
    ``datetime`` keeps microseconds only.
    """
    cached = cached_utc_ns(text)
    if cached is not None:
        return cached
    common = _UTC_RE.fullmatch(text)
    if common is not None:
        whole, fraction_digits = common.groups()
        seconds = utc_seconds.get(whole)
        if seconds is None:
            seconds = _parse_iso(whole, key) // _NS_PER_SECOND
            if len(utc_seconds) >= UTC_SECONDS_MAX:
                utc_seconds.clear()
            utc_seconds[whole] = seconds
        if fraction_digits is None:
            return seconds * _NS_PER_SECOND
        return seconds * _NS_PER_SECOND + int(fraction_digits.ljust(9, "0"))
    match = _ISO_RE.fullmatch(text)
    if match is None:
        raise InvalidEvent(
            f"{key} {show(text)} is not an ISO 8601 time such as '2016-04-25T12:29:48.844949259Z'",
            key=key,
        )
    day_text, time_text, fraction, offset = match.groups()
    try:
        seconds = (date.fromisoformat(day_text).toordinal() - _EPOCH_ORDINAL) * 86_400
        if time_text is not None:
            time_of_day = time.fromisoformat(time_text)
            seconds += time_of_day.hour * 3600 + time_of_day.minute * 60 + time_of_day.second
    except ValueError as exc:
        raise InvalidEvent(f"{key} {show(text)} is not a valid time: {exc}", key=key) from None
    if offset is not None and offset not in {"Z", "z"}:
        offset_hours = int(offset[1:3])
        offset_minutes = int(offset[-2:]) if len(offset) > 3 else 0
        if offset_hours > 23 or offset_minutes > 59:
            raise InvalidEvent(f"{key} {show(text)} has an invalid UTC offset", key=key)
        offset_seconds = offset_hours * 3600 + offset_minutes * 60
        seconds += offset_seconds if offset[0] == "-" else -offset_seconds
    time_ns = seconds * _NS_PER_SECOND
    if fraction is not None:
        time_ns += int(fraction.ljust(9, "0"))
    return time_ns


def format_time(time_ns: int) -> str:
    """ISO 8601 in UTC with nine fraction digits: ``2016-04-25T12:29:48.844949259Z``."""
    seconds, fraction = divmod(time_ns, _NS_PER_SECOND)
    days, seconds = divmod(seconds, 86_400)
    day = date.fromordinal(days + _EPOCH_ORDINAL)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return (
        f"{day.year:04d}-{day.month:02d}-{day.day:02d}"
        f"T{hours:02d}:{minutes:02d}:{seconds:02d}.{fraction:09d}Z"
    )
