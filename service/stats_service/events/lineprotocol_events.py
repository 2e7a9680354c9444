"""Parsed line-protocol points as events of the event model.

A point becomes a point-form event (:func:`~stats_service.events.model.parse_point`),
so every rule of the model applies to it exactly as to JSON points:

* the measurement must match the model's measurement rule and every tag and
  field key its key rule (``[A-Za-z][A-Za-z0-9_]{0,127}``); ``identity``,
  ``time`` and ``measurement`` are reserved, and the service adds the tag
  ``identity`` (the sender) to every point;
* tags and fields share one namespace, so a tag and a field of the same key
  are refused (InfluxDB would keep both);
* a string field ``event_id`` holding a valid event id becomes the event's id
  (so what the encoder writes reads back as the same event, and a client may
  make its writes idempotent); otherwise every event gets a fresh id;
* unsigned integers are stored as integers when they fit in 64 signed bits
  and refused when they do not; floats, integers, booleans and strings are
  kept as they are;
* the time must lie between 1970 and 2262 (the model's range); a point
  without one gets the arrival time plus its index in nanoseconds, so points
  of one request never collapse into one.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Final

from stats_service.errors import InvalidEvent
from stats_service.events.lineprotocol_parse import ParsedPoint, UnsignedInt
from stats_service.events.model import (
    RESERVED_KEYS,
    Event,
    FieldValue,
    Limits,
    format_time,
    is_valid_event_id,
    new_event_id,
    parse_point,
)

__all__ = ["event_from_point", "plain_series", "valid_key"]

_INT64_MAX: Final = 2**63 - 1
_MAX_TIME_NS: Final = 2**63 - 1
_EVENT_ID_FIELD: Final = "event_id"


# The model's rules for names (see ``events.model``), for the fast path below.
_KEY_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}")
_MEASUREMENT_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,127}")
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f]")
_NUMBER_BYTES: Final = 8
_INT64_MIN: Final = -(2**63)
_CACHE_MAX: Final = 4096
_valid_keys: set[str] = set()
"""Tag and field keys already found valid and unreserved; bounded."""
_valid_measurements: set[str] = set()
"""Measurements already found valid; bounded."""
_SeriesKey = tuple[str, object, int]
_series: dict[_SeriesKey, tuple[dict[str, str], int] | None] = {}
"""Recent series (identity, the line's series text or its parts, string limit): tags and size."""


def valid_key(name: str) -> bool:
    """Whether ``name`` is a valid, unreserved tag or field key of the model (cached)."""
    if name in _valid_keys:
        return True
    if _KEY_RE.fullmatch(name) is None or name in RESERVED_KEYS:
        return False
    if len(_valid_keys) < _CACHE_MAX:
        _valid_keys.add(name)
    return True


def _valid_measurement(name: str) -> bool:
    if name in _valid_measurements:
        return True
    if _MEASUREMENT_RE.fullmatch(name) is None:
        return False
    if len(_valid_measurements) < _CACHE_MAX:
        _valid_measurements.add(name)
    return True


def event_from_point(point: ParsedPoint, *, identity: str, now_ns: int, limits: Limits) -> Event:
    """The event for ``point``; :class:`InvalidEvent` when the model refuses it."""
    fast = _plain_event(point, identity, now_ns, limits)
    if fast is not None:
        return fast
    return _model_event(point, identity=identity, now_ns=now_ns, limits=limits)


def _model_event(point: ParsedPoint, *, identity: str, now_ns: int, limits: Limits) -> Event:
    """The event the model's own path builds (every rule, every error message)."""
    fields: dict[str, Any] = point.fields
    obj: dict[str, Any] = {"measurement": point.measurement, "tags": point.tags}
    if _EVENT_ID_FIELD in fields or any(type(v) is UnsignedInt for v in fields.values()):
        fields = dict(fields)
        event_id = fields.pop(_EVENT_ID_FIELD, None)
        if event_id is not None:
            if not isinstance(event_id, str):
                raise InvalidEvent("field 'event_id' must be a string", key=_EVENT_ID_FIELD)
            obj[_EVENT_ID_FIELD] = event_id
        for key, value in fields.items():
            if type(value) is UnsignedInt:
                if value > _INT64_MAX:
                    raise InvalidEvent(
                        f"unsigned field {key!r} is over {_INT64_MAX}, "
                        "the largest integer stats-service stores",
                        key=key,
                    )
                fields[key] = int(value)
    obj["fields"] = fields
    event = parse_point(obj, identity=identity, now_ns=now_ns, limits=limits)
    time_ns = point.time_ns
    if time_ns is None:
        return event
    if not 0 <= time_ns < _MAX_TIME_NS:
        raise InvalidEvent(
            "time is out of range: stats-service stores times between "
            f"1970-01-01T00:00:00Z and {format_time(_MAX_TIME_NS - 1)}",
            key="time",
        )
    return replace(event, time_ns=time_ns)


def plain_series(
    point: ParsedPoint, identity: str, max_string_bytes: int
) -> tuple[dict[str, str], int] | None:
    """The tags of ``point``'s event (``identity`` first; shared, read-only) and their
    size, when its measurement and tags are plain (the fast path); else None.

    Cached per series: callers on the fast path ask once per point.
    """
    series_key: _SeriesKey = (
        identity,
        point.series if point.series is not None else (point.measurement, *point.tags.items()),
        max_string_bytes,
    )
    if series_key in _series:
        return _series[series_key]
    series = _plain_series(point, identity, max_string_bytes)
    if len(_series) >= _CACHE_MAX:
        _series.clear()
    _series[series_key] = series
    return series


def _plain_series(
    point: ParsedPoint, identity: str, max_string_bytes: int
) -> tuple[dict[str, str], int] | None:
    """The tags (``identity`` first) and their size for a plain series, or ``None``."""
    if not identity.isascii() or not _valid_measurement(point.measurement):
        return None
    size = len("identity") + len(identity)
    tags: dict[str, str] = {"identity": identity}
    for key, value in point.tags.items():
        if (
            not valid_key(key)
            or not value.isascii()
            or len(value) > max_string_bytes
            or _CONTROL_RE.search(value) is not None
            or value.endswith("\\")
        ):
            return None
        tags[key] = value
        size += len(key) + len(value)
    return tags, size


def _plain_event(point: ParsedPoint, identity: str, now_ns: int, limits: Limits) -> Event | None:
    """:func:`event_from_point` for ASCII points with valid names, or ``None``.

    Builds exactly the event the model's path builds; anything else (and
    every error) is left to that path.
    """
    max_string_bytes = limits.max_string_bytes
    series = plain_series(point, identity, max_string_bytes)
    if series is None:
        return None
    series_tags, size = series
    tags = dict(series_tags)
    fields: dict[str, FieldValue] = {}
    event_id: str | None = None
    for key, field_value in point.fields.items():
        if key == _EVENT_ID_FIELD:
            if not is_valid_event_id(field_value):
                return None
            event_id = field_value
            continue
        if (key not in _valid_keys and not valid_key(key)) or key in tags:
            return None
        if isinstance(field_value, str):
            if not field_value.isascii() or len(field_value) > max_string_bytes:
                return None
            size += len(key) + len(field_value)
        elif isinstance(field_value, bool | float) or (
            type(field_value) is int and _INT64_MIN <= field_value <= _INT64_MAX
        ):
            size += len(key) + _NUMBER_BYTES
        else:
            return None  # unsigned integers take the model's path
        fields[key] = field_value
    if not fields or len(tags) + len(fields) > limits.max_keys or size > limits.max_event_bytes:
        return None
    time_ns = now_ns if point.time_ns is None else point.time_ns
    if not 0 <= time_ns < _MAX_TIME_NS:
        return None
    return Event(
        event_id=event_id if event_id is not None else new_event_id(),
        measurement=point.measurement,
        time_ns=time_ns,
        tags=tags,
        fields=fields,
    )
