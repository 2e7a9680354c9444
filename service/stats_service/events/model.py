"""The normalised event every ingest path produces and every store keeps.

This module is pure: no I/O, no clock (callers pass ``now_ns``), no settings.
It turns one decoded JSON payload into one :class:`Event`, or raises
:class:`~stats_service.errors.InvalidEvent` naming the offending key. No other
exception escapes for any JSON-decodable input.

Two payload forms are accepted:

* the **event** form, ``{"event": "pnc.user.login", "uid": "oisin", ...data}``
  (:func:`parse_event`), whose measurement is configured by the service;
* the **point** form, ``{"measurement": "cpu", "tags": {...}, "fields": {...}}``
  (:func:`parse_point`).

:func:`parse_item` picks the form for one item of a batch.

Key rule
--------
Every tag key and every field key, after flattening, must match
``^[A-Za-z][A-Za-z0-9_]{0,127}$``: an ASCII letter, then at most 127 ASCII
letters, digits or underscores (so never a leading ``_``). The keys in
:data:`RESERVED_KEYS` (``time``, ``event_id``, ``measurement``, ``identity``) are
never allowed as tag or data keys: the service sets them.

Nested data objects are flattened by joining keys with ``_``
(``{"a": {"b": 1}}`` becomes ``a_b = 1``). Each nested key must match
``^[A-Za-z0-9][A-Za-z0-9_]*$`` and the joined key must satisfy the key rule.
``Limits.max_depth`` is the number of nested object levels allowed: with
``max_depth=1``, ``{"a": {"b": 1}}`` passes and ``{"a": {"b": {"c": 1}}}`` fails.
Tags, fields and flattened keys share one namespace: a key that appears twice
is an error, never a silent overwrite.

Values
------
Strings, booleans, 64-bit signed integers and finite floats are kept; lists are
stored as their compact JSON text; ``null`` is dropped. Every string must be
valid Unicode (no lone surrogates) and at most ``Limits.max_string_bytes`` UTF-8
bytes. Tag values are strings without control characters that do not end with
a backslash (line protocol cannot write either); an empty tag value is dropped.
Every event also carries the tag ``identity`` (the authenticated sender, which
``max_string_bytes`` does not limit) and, in the event form, the tag ``event``
and the field ``uid``. A data key listed in ``tag_keys`` (configured
low-cardinality keys) whose value is a string becomes a tag instead of a field.

Totals
------
An event holds at most ``Limits.max_keys`` tags plus fields (``identity``,
``event`` and ``uid`` included). The UTF-8 sizes of all tag and field keys and
string values, counting every non-string value as 8 bytes, add up to at most
``Limits.max_event_bytes``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any, TypeGuard

import orjson

from stats_service.errors import InvalidEvent
from stats_service.events.ids import new_event_id

__all__ = [
    "RESERVED_KEYS",
    "Event",
    "FieldValue",
    "Limits",
    "format_time",
    "is_valid_event_id",
    "new_event_id",
    "parse_event",
    "parse_item",
    "parse_point",
    "parse_time",
    "to_flat_dict",
]

FieldValue = str | int | float | bool


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits applied to one event; each has a documented default."""

    max_event_bytes: int = 65_536
    """Sum of the UTF-8 sizes of every key and value of one event."""
    max_string_bytes: int = 16_384
    """UTF-8 size of one string value (tag or field)."""
    max_keys: int = 256
    """Number of tags plus fields of one event, after flattening."""
    max_depth: int = 8
    """Nesting depth of data objects before flattening."""


@dataclass(frozen=True, slots=True)
class Event:
    """One validated, normalised event or point.

    ``tags`` are low-cardinality (``event``, ``identity``, explicit tags);
    ``fields`` hold the data (``uid`` included). ``event_id`` is kept apart and
    written as a field by the storage mapping.
    """

    event_id: str
    measurement: str
    time_ns: int
    tags: dict[str, str] = field(default_factory=dict)
    fields: dict[str, FieldValue] = field(default_factory=dict)


RESERVED_KEYS: frozenset[str] = frozenset({"time", "event_id", "measurement", "identity"})
"""Keys the service sets itself; never allowed as data or tag keys."""

_KEY_PATTERN = r"[A-Za-z][A-Za-z0-9_]{0,127}"
_KEY_RE = re.compile(_KEY_PATTERN)
_KEY_RULE = f"keys must match ^{_KEY_PATTERN}$"
_SEGMENT_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_]*"
_SEGMENT_RE = re.compile(_SEGMENT_PATTERN)
_SEGMENT_RULE = f"nested keys must match ^{_SEGMENT_PATTERN}$"
_MAX_KEY_CHARS = 128
_RESERVED_NOTE = "event_id, identity, measurement and time are set by the service"

_EVENT_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}"
_EVENT_ID_RE = re.compile(_EVENT_ID_PATTERN)
_MEASUREMENT_PATTERN = r"[A-Za-z][A-Za-z0-9_.\-]{0,127}"
_MEASUREMENT_RE = re.compile(_MEASUREMENT_PATTERN)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_ISO_RE = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})"  # date
    r"(?:[Tt ]([0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,]([0-9]{1,9}))?)?)"  # time, fraction
    r"([Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"  # UTC offset
)
# The form clients send most (``format_time``'s): its whole seconds are cached.
_UTC_RE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,9}))?Z")
_UTC_SECONDS_MAX = 4096
_utc_seconds: dict[str, int] = {}
"""Seconds since the epoch of recently seen ``YYYY-MM-DDTHH:MM:SS`` texts; bounded."""

_MAX_EVENT_NAME_CHARS = 256
_MAX_UID_BYTES = 1024
_NS_PER_SECOND = 1_000_000_000
_MAX_TIME_NS = 2**63 - 1  # exclusive bound: the largest time InfluxDB stores is 2**63 - 2
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_NUMBER_BYTES = 8
_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()
_EVENT_CONTROL_KEYS = frozenset({"event", "uid", "time", "event_id", "tags"})
_POINT_KEYS = ("measurement", "tags", "fields", "time", "event_id")


# --- identifiers and time ---------------------------------------------------


def is_valid_event_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a string usable as an event id.

    An id is 1 to 128 characters: an ASCII letter or digit, then letters,
    digits, ``_``, ``.``, ``:`` or ``-``.
    """
    return isinstance(value, str) and _EVENT_ID_RE.fullmatch(value) is not None


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
            f"{key} must be an ISO 8601 string or epoch seconds, got {_json_type(value)}",
            key=key,
        )
    if not 0 <= time_ns < _MAX_TIME_NS:
        raise InvalidEvent(
            f"{key} is out of range: times must lie between 1970-01-01T00:00:00Z "
            f"and {format_time(_MAX_TIME_NS - 1)}",
            key=key,
        )
    return time_ns


def _parse_iso(text: str, key: str) -> int:
    """Nanoseconds since the epoch for one ISO 8601 date or date-time string.

    The pattern fixes the shape; the C parsers of :mod:`datetime` check the
    ranges (month, day of month, hour...); the fraction is read here because
    ``datetime`` keeps microseconds only.
    """
    common = _UTC_RE.fullmatch(text)
    if common is not None:
        whole, fraction_digits = common.groups()
        seconds = _utc_seconds.get(whole)
        if seconds is None:
            seconds = _parse_iso(whole, key) // _NS_PER_SECOND
            if len(_utc_seconds) >= _UTC_SECONDS_MAX:
                _utc_seconds.clear()
            _utc_seconds[whole] = seconds
        if fraction_digits is None:
            return seconds * _NS_PER_SECOND
        return seconds * _NS_PER_SECOND + int(fraction_digits.ljust(9, "0"))
    match = _ISO_RE.fullmatch(text)
    if match is None:
        raise InvalidEvent(
            f"{key} {_show(text)} is not an ISO 8601 time such as '2016-04-25T12:29:48.844949259Z'",
            key=key,
        )
    day_text, time_text, fraction, offset = match.groups()
    try:
        seconds = (date.fromisoformat(day_text).toordinal() - _EPOCH_ORDINAL) * 86_400
        if time_text is not None:
            time_of_day = time.fromisoformat(time_text)
            seconds += time_of_day.hour * 3600 + time_of_day.minute * 60 + time_of_day.second
    except ValueError as exc:
        raise InvalidEvent(f"{key} {_show(text)} is not a valid time: {exc}", key=key) from None
    if offset is not None and offset not in {"Z", "z"}:
        offset_hours = int(offset[1:3])
        offset_minutes = int(offset[-2:]) if len(offset) > 3 else 0
        if offset_hours > 23 or offset_minutes > 59:
            raise InvalidEvent(f"{key} {_show(text)} has an invalid UTC offset", key=key)
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


# --- the two payload forms --------------------------------------------------


def parse_event(
    obj: object,
    *,
    identity: str,
    measurement: str,
    now_ns: int,
    limits: Limits,
    tag_keys: frozenset[str] = frozenset(),
) -> Event:
    """Validate and normalise one event-form payload into an :class:`Event`.

    ``event`` (required, non-empty) becomes a tag, ``uid`` (required, may be
    empty) a field, ``tags`` explicit tags, every other key data (fields, or a
    tag when the key is in ``tag_keys`` and its value is a string). ``time``
    and ``event_id`` default to ``now_ns`` and a fresh id.
    """
    if not isinstance(obj, dict):
        raise InvalidEvent("an event must be a JSON object", key=None)
    fast = _flat_event(obj, identity, measurement, now_ns, limits, tag_keys)
    if fast is not None:
        return fast
    name = obj.get("event")
    if name is None:
        raise InvalidEvent(
            "'event' is required: a non-empty string such as 'pnc.user.login'", key="event"
        )
    if not isinstance(name, str):
        raise InvalidEvent(f"'event' must be a string, got {_json_type(name)}", key="event")
    if not name:
        raise InvalidEvent("'event' must not be empty", key="event")
    if len(name) > _MAX_EVENT_NAME_CHARS:
        raise InvalidEvent(
            f"'event' is {len(name)} characters long; at most {_MAX_EVENT_NAME_CHARS} are allowed",
            key="event",
        )
    if "uid" not in obj:
        raise InvalidEvent("'uid' is required (it may be an empty string)", key="uid")
    uid = obj["uid"]
    if not isinstance(uid, str):
        raise InvalidEvent(f"'uid' must be a string, got {_json_type(uid)}", key="uid")
    if _CONTROL_RE.search(uid) is not None:
        raise InvalidEvent("'uid' must not contain control characters", key="uid")
    uid_size = _text_size(uid, limits.max_string_bytes, "the", "uid")
    if uid_size > _MAX_UID_BYTES:
        raise InvalidEvent(
            f"'uid' is {uid_size} bytes long (UTF-8); at most {_MAX_UID_BYTES} are allowed",
            key="uid",
        )
    time_ns, event_id = _time_and_id(obj, now_ns)

    builder = _Builder(limits, identity, tag_keys)
    builder.add_tag("event", name, "the", "event")
    builder.add_field("uid", uid, uid_size, "the", "uid")
    builder.add_tags(obj.get("tags"))
    builder.add_object(obj, "data", skip=_EVENT_CONTROL_KEYS)
    return builder.finish(event_id, measurement, time_ns)


def parse_point(obj: object, *, identity: str, now_ns: int, limits: Limits) -> Event:
    """Validate and normalise one point-form payload into an :class:`Event`.

    ``measurement`` and a non-empty ``fields`` object are required; ``tags``,
    ``time`` and ``event_id`` are optional; any other key is an error. Fields
    are normalised exactly like event data.
    """
    if not isinstance(obj, dict):
        raise InvalidEvent("a point must be a JSON object", key=None)
    for key in obj:
        if key not in _POINT_KEYS:
            raise InvalidEvent(
                f"unknown key {_show(key)} in a point: expected {', '.join(_POINT_KEYS)}",
                key=_safe_key(key),
            )
    measurement = obj.get("measurement")
    if not isinstance(measurement, str) or _MEASUREMENT_RE.fullmatch(measurement) is None:
        raise InvalidEvent(
            f"measurement {_show(measurement)} is invalid: "
            f"it must be a string matching ^{_MEASUREMENT_PATTERN}$",
            key="measurement",
        )
    fields = obj.get("fields")
    if not isinstance(fields, dict):
        raise InvalidEvent(
            f"'fields' is required and must be a JSON object, got {_json_type(fields)}",
            key="fields",
        )
    time_ns, event_id = _time_and_id(obj, now_ns)

    builder = _Builder(limits, identity, frozenset())
    builder.add_tags(obj.get("tags"))
    builder.add_object(fields, "field")
    if not builder.fields:
        raise InvalidEvent("'fields' must hold at least one non-null value", key="fields")
    return builder.finish(event_id, measurement, time_ns)


def parse_item(
    obj: object,
    *,
    identity: str,
    measurement: str,
    now_ns: int,
    limits: Limits,
    tag_keys: frozenset[str] = frozenset(),
) -> Event:
    """Parse one item of a batch: a point if it has ``measurement`` and no ``event``."""
    if isinstance(obj, dict) and "measurement" in obj and "event" not in obj:
        return parse_point(obj, identity=identity, now_ns=now_ns, limits=limits)
    return parse_event(
        obj,
        identity=identity,
        measurement=measurement,
        now_ns=now_ns,
        limits=limits,
        tag_keys=tag_keys,
    )


def to_flat_dict(event: Event) -> dict[str, object]:
    """The JSON object the API returns for one stored event.

    ``event_id``, ``time`` (ISO 8601, nanoseconds), ``measurement``, then every
    tag and every field at the top level.
    """
    flat: dict[str, object] = {
        "event_id": event.event_id,
        "time": format_time(event.time_ns),
        "measurement": event.measurement,
    }
    flat.update(event.tags)
    flat.update(event.fields)
    return flat


# --- the fast path for flat events ------------------------------------------

_KNOWN_KEYS_MAX = 4096
_known_keys: set[str] = set()
"""Top-level keys already found valid (key rule, not reserved); bounded."""


def _known_key(key: object) -> bool:
    """Whether ``key`` is a valid, unreserved tag or data key; remembered when it is."""
    if key in _known_keys:
        return True
    if not isinstance(key, str) or _KEY_RE.fullmatch(key) is None or key in RESERVED_KEYS:
        return False
    if len(_known_keys) < _KNOWN_KEYS_MAX:
        _known_keys.add(key)
    return True


def _plain_tag_value(value: str, max_string_bytes: int) -> bool:
    """Whether ``value`` is an ASCII tag value that passes every tag value check."""
    return (
        value.isascii()
        and len(value) <= max_string_bytes
        and _CONTROL_RE.search(value) is None
        and not value.endswith("\\")
    )


def _flat_event(  # noqa: PLR0912, PLR0915  one flat pass keeps the hot path free of calls
    obj: dict[Any, Any],
    identity: str,
    measurement: str,
    now_ns: int,
    limits: Limits,
    tag_keys: frozenset[str],
) -> Event | None:
    """:func:`parse_event` for the common case, or None to take the full path.

    The common case is ASCII text, known valid keys, scalar values and no
    nesting. It builds exactly the event the full path would build; anything
    else (and every error) is left to the full path, which reports it.
    """
    max_string_bytes = limits.max_string_bytes
    name = obj.get("event")
    uid = obj.get("uid")
    if (
        type(name) is not str
        or not 0 < len(name) <= _MAX_EVENT_NAME_CHARS
        or not _plain_tag_value(name, max_string_bytes)
        or type(uid) is not str
        or not uid.isascii()
        or len(uid) > min(_MAX_UID_BYTES, max_string_bytes)
        or _CONTROL_RE.search(uid) is not None
        or not identity.isascii()
    ):
        return None
    try:
        time_ns, event_id = _time_and_id(obj, now_ns)
    except InvalidEvent:
        return None
    tags: dict[str, str] = {"identity": identity, "event": name}
    fields: dict[str, FieldValue] = {"uid": uid}
    size = 8 + len(identity) + 5 + len(name) + 3 + len(uid)
    raw_tags = obj.get("tags")
    if raw_tags is not None:
        if type(raw_tags) is not dict:
            return None
        for key, value in raw_tags.items():
            if not _known_key(key):
                return None
            if value is None:
                continue
            if type(value) is not str or not _plain_tag_value(value, max_string_bytes):
                return None
            if value:
                if key in tags or key in fields:
                    return None
                tags[key] = value
                size += len(key) + len(value)
    known = _known_keys
    for key, value in obj.items():
        if key in _EVENT_CONTROL_KEYS:
            continue
        if key not in known and not _known_key(key):
            return None
        if value is None:
            continue
        if key in tags or key in fields:
            return None
        kind = type(value)
        if kind is str:
            if not value.isascii() or len(value) > max_string_bytes:
                return None
            if key in tag_keys:
                if _CONTROL_RE.search(value) is not None or value.endswith("\\"):
                    return None
                if value:
                    tags[key] = value
                    size += len(key) + len(value)
                continue
            fields[key] = value
            size += len(key) + len(value)
        elif kind is int:
            if not _INT64_MIN <= value <= _INT64_MAX:
                return None
            fields[key] = value
            size += len(key) + _NUMBER_BYTES
        elif kind is float:
            if not math.isfinite(value):
                return None
            fields[key] = value
            size += len(key) + _NUMBER_BYTES
        elif kind is bool:
            fields[key] = value
            size += len(key) + _NUMBER_BYTES
        else:
            return None
    if len(tags) + len(fields) > limits.max_keys or size > limits.max_event_bytes:
        return None
    return Event(
        event_id=event_id, measurement=measurement, time_ns=time_ns, tags=tags, fields=fields
    )


# --- the shared normaliser --------------------------------------------------


def _time_and_id(obj: dict[Any, Any], now_ns: int) -> tuple[int, str]:
    """The event time (``now_ns`` when absent) and id (fresh when absent)."""
    raw_time = obj.get("time")
    time_ns = now_ns if raw_time is None else parse_time(raw_time)
    raw_id = obj.get("event_id")
    if raw_id is None:
        return time_ns, new_event_id()
    if is_valid_event_id(raw_id):
        return time_ns, raw_id
    raise InvalidEvent(
        f"event_id {_show(raw_id)} is invalid: it must be a string matching ^{_EVENT_ID_PATTERN}$",
        key="event_id",
    )


class _Builder:
    """Collects the tags and fields of one event and enforces every rule on them.

    Both payload forms go through it. Error messages name keys by ``label``
    (``data``, ``field``, ``tag``) and by their dotted path when nested.
    """

    __slots__ = ("fields", "limits", "size", "tag_keys", "tags")

    def __init__(self, limits: Limits, identity: str, tag_keys: frozenset[str]) -> None:
        self.limits = limits
        self.tag_keys = tag_keys
        self.tags: dict[str, str] = {}
        self.fields: dict[str, FieldValue] = {}
        # The sender's identity is configuration, not payload: no string limit applies.
        self.size = len("identity") + _utf8_size(identity, "the", "identity", "identity")
        self.tags["identity"] = identity

    def add_tag(self, key: str, value: str, label: str, shown: str) -> None:
        """Add one tag under a valid ``key``; an empty value is dropped."""
        if _CONTROL_RE.search(value) is not None:
            raise InvalidEvent(
                f"the value of {label} key {_show(shown)} must not contain control characters "
                "(it is stored as a tag)",
                key=key,
            )
        if value.endswith("\\"):
            raise InvalidEvent(
                f"the value of {label} key {_show(shown)} must not end with a backslash "
                "(it is stored as a tag, and line protocol cannot write that)",
                key=key,
            )
        size = _text_size(value, self.limits.max_string_bytes, label, shown, key)
        if not value:
            return
        if key in self.tags or key in self.fields:
            raise _collision(label, key, shown)
        self.tags[key] = value
        self.size += len(key) + size

    def add_field(self, key: str, value: FieldValue, size: int, label: str, shown: str) -> None:
        """Add one checked field value of ``size`` bytes under a valid ``key``."""
        if key in self.tags or key in self.fields:
            raise _collision(label, key, shown)
        self.fields[key] = value
        self.size += len(key) + size

    def add_tags(self, raw: object) -> None:
        """Add the explicit ``tags`` object of a payload (``null`` means none)."""
        if raw is None:
            return
        if not isinstance(raw, dict):
            raise InvalidEvent(
                f"'tags' must be a JSON object of string values, got {_json_type(raw)}",
                key="tags",
            )
        for key, value in raw.items():
            if not isinstance(key, str) or _KEY_RE.fullmatch(key) is None or key in RESERVED_KEYS:
                raise _bad_key(key, "tag")
            if value is None:
                continue
            if not isinstance(value, str):
                raise InvalidEvent(
                    f"tag {key!r} must have a string value, got {_json_type(value)}", key=key
                )
            self.add_tag(key, value, "tag", key)

    def add_object(  # noqa: PLR0912  one flat type dispatch keeps the hot loop free of calls
        self,
        obj: dict[Any, Any],
        label: str,
        *,
        skip: frozenset[str] = frozenset(),
        prefix: str = "",
        path: str = "",
        level: int = 0,
    ) -> None:
        """Add every data key of ``obj``, flattening nested objects.

        At the top level (no ``prefix``) keys in ``skip`` are left out; nested
        keys are joined to ``prefix`` with ``_`` and shown as ``path.key``.
        This loop is the hot path of ingestion: it keeps its state in locals.
        """
        tags = self.tags
        fields = self.fields
        tag_keys = self.tag_keys
        max_string_bytes = self.limits.max_string_bytes
        key_fullmatch = _KEY_RE.fullmatch
        size = 0
        for name, value in obj.items():
            if not prefix:
                if name in skip:
                    continue
                if (
                    not isinstance(name, str)
                    or key_fullmatch(name) is None
                    or name in RESERVED_KEYS
                ):
                    raise _bad_key(name, label)
                key = shown = name
            else:
                key, shown = _nested_key(prefix, path, name, label)
            if value is None:
                continue
            if isinstance(value, dict):
                max_depth = self.limits.max_depth
                if level >= max_depth:
                    raise InvalidEvent(
                        f"{label} key {_show(shown)} nests objects deeper than {max_depth} levels",
                        key=key,
                    )
                self.add_object(value, label, prefix=key, path=shown, level=level + 1)
                continue
            if key in fields or key in tags:
                raise _collision(label, key, shown)
            if isinstance(value, str):
                if key in tag_keys:
                    self.add_tag(key, value, label, shown)
                    continue
                value_size = len(value) if value.isascii() else _utf8_size(value, label, shown, key)
                if value_size > max_string_bytes:
                    raise _too_long(label, shown, key, value_size, max_string_bytes)
                fields[key] = value
                size += len(key) + value_size
            elif isinstance(value, int):  # bool included: it is an int with a stored type
                if not _INT64_MIN <= value <= _INT64_MAX:
                    raise InvalidEvent(
                        f"{label} key {_show(shown)} holds an integer outside the signed "
                        "64-bit range",
                        key=key,
                    )
                fields[key] = value
                size += len(key) + _NUMBER_BYTES
            elif isinstance(value, float):
                if not math.isfinite(value):
                    raise InvalidEvent(
                        f"{label} key {_show(shown)} holds a non-finite number", key=key
                    )
                fields[key] = value
                size += len(key) + _NUMBER_BYTES
            elif isinstance(value, list):
                self._add_list(key, value, label, shown)
            else:
                raise InvalidEvent(
                    f"{label} key {_show(shown)} holds an unsupported value of type "
                    f"{type(value).__name__}",
                    key=key,
                )
        self.size += size

    def _add_list(self, key: str, value: list[Any], label: str, shown: str) -> None:
        """Add a list as one string field holding its compact JSON text."""
        try:
            encoded = orjson.dumps(value)
        except orjson.JSONEncodeError as exc:
            raise InvalidEvent(
                f"{label} key {_show(shown)} holds a list that cannot be stored as JSON: {exc}",
                key=key,
            ) from None
        limit = self.limits.max_string_bytes
        if len(encoded) > limit:
            raise InvalidEvent(
                f"the value of {label} key {_show(shown)} is {len(encoded)} bytes long as JSON; "
                f"at most {limit} are allowed",
                key=key,
            )
        self.add_field(key, encoded.decode(), len(encoded), label, shown)

    def finish(self, event_id: str, measurement: str, time_ns: int) -> Event:
        """Check the per-event totals and build the :class:`Event`."""
        limits = self.limits
        if len(self.tags) + len(self.fields) > limits.max_keys:
            raise InvalidEvent(
                f"the event has {len(self.tags) + len(self.fields)} keys (tags and fields, "
                f"after flattening); at most {limits.max_keys} are allowed",
                key=None,
            )
        if self.size > limits.max_event_bytes:
            raise InvalidEvent(
                f"the event is {self.size} bytes long (UTF-8 sizes of all keys and string "
                f"values, 8 for every other value); at most {limits.max_event_bytes} are allowed",
                key=None,
            )
        return Event(
            event_id=event_id,
            measurement=measurement,
            time_ns=time_ns,
            tags=self.tags,
            fields=self.fields,
        )


def _nested_key(prefix: str, path: str, name: object, label: str) -> tuple[str, str]:
    """The flattened key and dotted path of key ``name`` nested under ``prefix``."""
    shown = f"{path}.{name}"
    if not isinstance(name, str) or _SEGMENT_RE.fullmatch(name) is None:
        raise InvalidEvent(
            f"{label} key {_show(shown)} is invalid: {_SEGMENT_RULE}",
            key=path.split(".", 1)[0],
        )
    key = f"{prefix}_{name}"
    if len(key) > _MAX_KEY_CHARS:
        raise InvalidEvent(
            f"{label} key {_show(shown)} flattens to {_show(key)}, which is invalid: {_KEY_RULE}",
            key=key,
        )
    if key in RESERVED_KEYS:
        raise InvalidEvent(
            f"{label} key {shown!r} flattens to {key!r}, which is reserved: {_RESERVED_NOTE}",
            key=key,
        )
    return key, shown


def _bad_key(key: object, label: str) -> InvalidEvent:
    """The error for a top-level tag or data key that breaks the key rule."""
    if isinstance(key, str) and key in RESERVED_KEYS:
        return InvalidEvent(f"{label} key {key!r} is reserved: {_RESERVED_NOTE}", key=key)
    return InvalidEvent(f"{label} key {_show(key)} is invalid: {_KEY_RULE}", key=_safe_key(key))


def _collision(label: str, key: str, shown: str) -> InvalidEvent:
    """The error for a key that is already a tag or field of the event."""
    named = repr(key) if shown == key else f"{_show(shown)} (flattened to {key!r})"
    return InvalidEvent(
        f"{label} key {named} collides with another key of this event "
        "(tags, fields and flattened keys share one namespace)",
        key=key,
    )


def _utf8_size(value: str, label: str, shown: str, key: str) -> int:
    """The UTF-8 size of ``value``; :class:`InvalidEvent` if it is not valid Unicode."""
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidEvent(
            f"the value of {label} key {_show(shown)} is not valid Unicode text "
            "(it contains a lone surrogate such as \\ud800)",
            key=key,
        ) from None


def _too_long(label: str, shown: str, key: str, size: int, limit: int) -> InvalidEvent:
    """The error for a string value over ``Limits.max_string_bytes``."""
    return InvalidEvent(
        f"the value of {label} key {_show(shown)} is {size} bytes long (UTF-8); "
        f"at most {limit} are allowed",
        key=key,
    )


def _text_size(value: str, limit: int, label: str, shown: str, key: str | None = None) -> int:
    """The UTF-8 size of valid Unicode ``value`` of at most ``limit`` bytes."""
    size = len(value) if value.isascii() else _utf8_size(value, label, shown, key or shown)
    if size > limit:
        raise _too_long(label, shown, key or shown, size, limit)
    return size


def _json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if isinstance(value, bool):
        return "a boolean"
    kinds: tuple[tuple[type, str], ...] = (
        (type(None), "null"),
        (int, "a number"),
        (float, "a number"),
        (str, "a string"),
        (list, "an array"),
        (dict, "an object"),
    )
    for kind, name in kinds:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _show(value: object, limit: int = 80) -> str:
    """A short, printable quotation of ``value`` for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _safe_key(key: object) -> str:
    """``key`` as text that any JSON encoder accepts (lone surrogates escaped)."""
    text = key if isinstance(key, str) else str(key)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
