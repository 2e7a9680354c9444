"""Encode events as InfluxDB line protocol, and quote names and strings for InfluxQL.

Pure and hot: ``encode_event`` runs once for every stored point. Names and tag
values repeat a lot, so their escaping (and the check that they can be written
at all) is cached, as is the start of the line of each recent series; field
strings are escaped with ``str.replace`` only when they hold a character that
needs it.

Rules, as InfluxDB 1.x parses them (checked against a real ``influxd``):

* measurement: ``,`` and space are escaped with a backslash;
* tag keys, tag values and field keys: ``,``, ``=`` and space are escaped;
  any other backslash is taken literally, so a name or tag value that *ends*
  with a backslash cannot be written (it would escape the separator after it)
  and is refused, as are control characters, the key ``time`` (InfluxDB
  drops such a field silently and refuses such a tag), a measurement starting with
  ``#`` (the line would be read as a comment) and a backslash followed by
  ``"`` in a measurement or field key (the parser drops that backslash);
* string field values are double-quoted with ``\\`` and ``"`` escaped; every
  other character, newlines included, is written as is and read back exactly;
* integers get the ``i`` suffix, floats are written with ``repr`` (always with
  a dot or an exponent, so they stay floats), booleans as ``true``/``false``;
* the timestamp is in nanoseconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from functools import lru_cache

from stats_service.errors import InvalidEvent
from stats_service.events.model import Event, FieldValue

__all__ = [
    "EVENT_ID_FIELD",
    "encode_event",
    "encode_events",
    "encode_field_value",
    "encode_lines",
    "escape_identifier",
    "quote_string_literal",
    "series_text",
]

EVENT_ID_FIELD = "event_id"
"""The field that carries ``Event.event_id`` in every written point."""

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_MIN_TIME_NS = -(2**63) + 2
_MAX_TIME_NS = 2**63 - 2
_CACHE_SIZE = 8192

_MEASUREMENT_ESCAPES = str.maketrans({",": "\\,", " ": "\\ "})
_KEY_ESCAPES = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
_IDENTIFIER_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})
_LITERAL_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _refuse(what: str, name: str, why: str) -> InvalidEvent:
    return InvalidEvent(f"{what} {name!r} cannot be written as line protocol: {why}", key=name)


def _check_name(what: str, name: str) -> None:
    if name == "time" and what != "measurement":
        raise _refuse(what, name, "InfluxDB reserves 'time'")
    if not name:
        raise _refuse(what, name, "it is empty")
    if _CONTROL.search(name):
        raise _refuse(what, name, "it contains a control character")
    if name.endswith("\\"):
        raise _refuse(what, name, "it ends with a backslash")


@lru_cache(maxsize=_CACHE_SIZE)
def _measurement(name: str) -> str:
    _check_name("measurement", name)
    if name.startswith("#"):
        raise _refuse("measurement", name, "it starts with '#'")
    if '\\"' in name:
        raise _refuse("measurement", name, "it contains a backslash before '\"'")
    return name.translate(_MEASUREMENT_ESCAPES)


def _tag_key(name: str) -> str:
    _check_name("tag key", name)
    return name.translate(_KEY_ESCAPES)


def _tag_value(value: str) -> str:
    if _CONTROL.search(value):
        raise _refuse("tag value", value, "it contains a control character")
    if value.endswith("\\"):
        raise _refuse("tag value", value, "it ends with a backslash")
    return value.translate(_KEY_ESCAPES)


@lru_cache(maxsize=_CACHE_SIZE)
def _tag_pair(key: str, value: str) -> str:
    return f",{_tag_key(key)}={_tag_value(value)}"


@lru_cache(maxsize=_CACHE_SIZE)
def _field_key(name: str) -> str:
    _check_name("field key", name)
    if '\\"' in name:
        raise _refuse("field key", name, "it contains a backslash before '\"'")
    return name.translate(_KEY_ESCAPES) + "="


_series_cache: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
"""Recently written series: measurement and tags (in their order) to the line's start."""


def _series(measurement: str, tags: dict[str, str]) -> str:
    """The start of a line up to and including the space before the fields."""
    key = (measurement, tuple(tags.items()))
    cached = _series_cache.get(key)
    if cached is None:
        cached = _measurement(measurement)
        if tags:
            cached += "".join([_tag_pair(k, tags[k]) for k in sorted(tags) if tags[k]])
        cached += " "
        if len(_series_cache) >= _CACHE_SIZE:
            _series_cache.clear()
        _series_cache[key] = cached
    return cached


def series_text(measurement: str, tags: dict[str, str]) -> str:
    """The start of every line of this series, up to and including the space before
    the fields (what :func:`encode_event` writes there); ``InvalidEvent`` as it."""
    return _series(measurement, tags)


def _string_value(value: str) -> str:
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if '"' in value:
        value = value.replace('"', '\\"')
    return f'"{value}"'


def encode_field_value(value: FieldValue, *, key: str = "") -> str:
    """One field value in line protocol; ``key`` names the field in errors."""
    if type(value) is str:
        return _string_value(value)
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is int:
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise InvalidEvent(f"integer field {key!r} is outside the 64-bit range", key=key)
        return f"{value}i"
    if type(value) is float:
        if not math.isfinite(value):
            raise InvalidEvent(f"float field {key!r} is not finite", key=key)
        return repr(value)
    raise InvalidEvent(f"field {key!r} has unsupported type {type(value).__name__}", key=key)


def encode_event(event: Event, *, measurement: str | None = None) -> str:
    """One line of line protocol for ``event`` (no trailing newline).

    ``measurement`` overrides ``event.measurement``. Tags are sorted by key and
    empty tag values are left out; the fields are the event's fields plus
    ``event_id`` as a string field. Raises ``InvalidEvent`` for anything
    InfluxDB cannot store exactly.
    """
    parts = [_series(event.measurement if measurement is None else measurement, event.tags)]
    fields = event.fields
    if EVENT_ID_FIELD in fields:
        raise InvalidEvent(f"field {EVENT_ID_FIELD!r} is reserved", key=EVENT_ID_FIELD)
    for key, value in fields.items():
        parts.append(_field_key(key))
        # The common string case inline; everything else goes through the checks.
        parts.append(
            _string_value(value) if type(value) is str else encode_field_value(value, key=key)
        )
        parts.append(",")
    time_ns = event.time_ns
    if not _MIN_TIME_NS <= time_ns <= _MAX_TIME_NS:
        raise InvalidEvent("time is outside the range InfluxDB can store", key="time")
    parts.append(f"{EVENT_ID_FIELD}={_string_value(event.event_id)} {time_ns:d}")
    return "".join(parts)


def encode_lines(events: Iterable[Event]) -> list[str]:
    """One line per event; the ``InvalidEvent`` for an unwritable one names its id."""
    lines: list[str] = []
    for event in events:
        try:
            lines.append(encode_event(event))
        except InvalidEvent as exc:
            raise InvalidEvent(f"event {event.event_id!r}: {exc.message}", key=exc.key) from None
    return lines


def encode_events(events: Iterable[Event], *, measurement: str | None = None) -> bytes:
    """Lines for ``events`` joined with ``\\n``, UTF-8 encoded (the ``/write`` body)."""
    return "\n".join([encode_event(e, measurement=measurement) for e in events]).encode("utf-8")


def escape_identifier(name: str) -> str:
    """``name`` as a double-quoted InfluxQL identifier (``\\`` and ``"`` escaped)."""
    return f'"{name.translate(_IDENTIFIER_ESCAPES)}"'


def quote_string_literal(value: str) -> str:
    """``value`` as a single-quoted InfluxQL string literal (``\\`` and ``'`` escaped).

    Prefer bound parameters (``$name`` with ``params``) for anything a user sends.
    """
    return f"'{value.translate(_LITERAL_ESCAPES)}'"
