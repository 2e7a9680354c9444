"""The wire format: validates and serialises events and points on the caller's thread.

An event becomes its final JSON bytes the moment it is logged, so a caller that
mutates its dict afterwards changes nothing, and the sender only joins bytes.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from stats_client._ids import new_event_id
from stats_client.exceptions import InvalidEventError

__all__ = [
    "KEY_PATTERN",
    "MAX_DEPTH",
    "MAX_EVENT_NAME_CHARS",
    "MAX_KEY_CHARS",
    "MAX_UID_BYTES",
    "MEASUREMENT_PATTERN",
    "RESERVED_KEYS",
    "SEGMENT_PATTERN",
    "EventEncoder",
    "WireItem",
    "check_key",
    "check_tags",
    "encode_batch",
    "format_time_ns",
    "new_event_id",
]

KEY_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}")
"""Every tag key and top-level data key must match this in full."""
SEGMENT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]*")
"""A key of a nested data object must match this; the service joins it to its parent with ``_``."""
MEASUREMENT_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,127}")
"""A point's measurement name must match this in full."""
RESERVED_KEYS = frozenset({"time", "event_id", "measurement", "identity"})
"""Keys the client or the service sets itself; data may not use them."""
MAX_EVENT_NAME_CHARS = 256
MAX_UID_BYTES = 1024
MAX_KEY_CHARS = 128
MAX_DEPTH = 8
"""Deepest nesting of data objects (a top-level object value is depth 1)."""

_EVENT_KEYS = frozenset({"event", "uid", "tags"})
_POINT_KEYS = frozenset({"measurement", "tags", "fields", "time"})
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})
_INT64_MIN = -(2**63)
_MAX_TIME_NS = 2**63 - 1  # exclusive, as the service's bound
_INT64_MAX = 2**63 - 1
_NS_PER_SECOND = 1_000_000_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_KNOWN_GOOD_KEYS: set[str] = set()
_KNOWN_GOOD_KEYS_MAX = 4096
_encode_json = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), check_circular=True
).encode


class WireItem(NamedTuple):
    """One serialised event or point: its id and its JSON bytes."""

    event_id: str
    body: bytes


def format_time_ns(ns: int) -> str:
    """ISO 8601 UTC with nine fraction digits and ``Z``, e.g. ``2026-11-22T21:59:25.123456789Z``."""
    seconds, fraction = divmod(ns, _NS_PER_SECOND)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


def check_key(key: object, *, what: str = "data key") -> str:
    """``key`` itself when it is a valid, unreserved key; InvalidEventError otherwise."""
    if isinstance(key, str) and key in _KNOWN_GOOD_KEYS:
        return key
    if not isinstance(key, str) or KEY_PATTERN.fullmatch(key) is None:
        raise InvalidEventError(
            f"{what} {key!r} is invalid: keys match {KEY_PATTERN.pattern}", key=str(key)
        )
    if key in RESERVED_KEYS:
        raise InvalidEventError(f"{what} {key!r} is reserved", key=key)
    if len(_KNOWN_GOOD_KEYS) < _KNOWN_GOOD_KEYS_MAX:
        _KNOWN_GOOD_KEYS.add(key)
    return key


def check_tags(tags: object) -> dict[str, str]:
    """A plain copy of ``tags`` when it maps valid keys to storable strings.

    Tag values may hold no control characters and may not end with a backslash
    (the storage's line protocol cannot write either); InvalidEventError otherwise.
    """
    if not isinstance(tags, Mapping):
        raise InvalidEventError("'tags' must be a mapping of str to str", key="tags")
    out: dict[str, str] = {}
    for key, value in tags.items():
        check_key(key, what="tag key")
        if not isinstance(value, str):
            raise InvalidEventError(
                f"tag {key!r} must be a str, not {type(value).__name__}", key=key
            )
        if _CONTROL_CHARS.search(value) is not None or value.endswith("\\"):
            raise InvalidEventError(
                f"tag {key!r} must hold no control characters and not end with a backslash",
                key=key,
            )
        out[key] = value
    return out


def _check_nested(value: Mapping[Any, Any], prefix: str, depth: int) -> None:
    """Nested object keys: the segment rule, and the flattened key must be valid too."""
    if depth > MAX_DEPTH:
        raise InvalidEventError(f"data under {prefix!r} nests deeper than {MAX_DEPTH}", key=prefix)
    for name, inner in value.items():
        if not isinstance(name, str) or SEGMENT_PATTERN.fullmatch(name) is None:
            raise InvalidEventError(
                f"nested key {name!r} under {prefix!r} is invalid: "
                f"nested keys match {SEGMENT_PATTERN.pattern}",
                key=prefix,
            )
        key = f"{prefix}_{name}"
        if len(key) > MAX_KEY_CHARS or key in RESERVED_KEYS:
            raise InvalidEventError(
                f"nested key {name!r} under {prefix!r} flattens to {key!r}, which is not allowed",
                key=key,
            )
        if isinstance(inner, Mapping):
            _check_nested(inner, key, depth + 1)
        elif type(inner) is int:
            _check_int(key, inner)


def _check_int(key: str, value: int) -> None:
    """The service stores signed 64-bit integers only; it refuses others by key."""
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise InvalidEventError(
            f"{key!r} holds an integer outside the signed 64-bit range", key=key
        )


class EventEncoder:
    """Turns user events and points into :class:`WireItem`, stamping id and time.

    Thread-safe: it holds only immutable settings and a one-entry time cache.
    """

    def __init__(
        self,
        *,
        tags: Mapping[str, str],
        clock_ns: Callable[[], int],
        id_factory: Callable[[], str],
        max_event_bytes: int,
    ) -> None:
        self._tags = dict(tags)
        self._clock_ns = clock_ns
        self._id_factory = id_factory
        self._max_event_bytes = max_event_bytes
        self._second_cache: tuple[int, str] = (-1, "")

    def _stamp(self, ns: int) -> str:
        seconds, fraction = divmod(ns, _NS_PER_SECOND)
        cached_second, prefix = self._second_cache
        if cached_second != seconds:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
            self._second_cache = (seconds, prefix)
        return f"{prefix}.{fraction:09d}Z"

    def _merged_tags(self, extra: object) -> dict[str, str]:
        if extra is None:
            return self._tags
        return {**self._tags, **check_tags(extra)}

    def _finish(self, event_id: str, obj: dict[str, Any]) -> WireItem:
        try:
            body = _encode_json(obj).encode("utf-8")
        except (TypeError, ValueError, RecursionError) as exc:
            # TypeError: unsupported type; ValueError: NaN/inf, cycles, lone surrogates.
            raise InvalidEventError(f"event is not valid JSON data: {exc}") from None
        if len(body) > self._max_event_bytes:
            raise InvalidEventError(
                f"event is {len(body)} bytes serialised, over the limit of {self._max_event_bytes}"
            )
        return WireItem(event_id, body)

    def event(self, data: Mapping[str, Any]) -> WireItem:
        """Validate and serialise one event dict (``event`` and ``uid`` required)."""
        if not isinstance(data, Mapping):
            raise InvalidEventError(f"an event must be a mapping, not {type(data).__name__}")
        name = data.get("event")
        if not isinstance(name, str) or not name or len(name) > MAX_EVENT_NAME_CHARS:
            raise InvalidEventError(
                f"'event' is required: a non-empty str of at most {MAX_EVENT_NAME_CHARS} chars",
                key="event",
            )
        uid = data.get("uid")
        if (
            not isinstance(uid, str)
            or _CONTROL_CHARS.search(uid) is not None
            or len(uid if uid.isascii() else uid.encode("utf-8", "surrogatepass")) > MAX_UID_BYTES
        ):
            raise InvalidEventError(
                f"'uid' is required: a str (may be empty) of at most {MAX_UID_BYTES} UTF-8 bytes"
                " without control characters",
                key="uid",
            )
        event_id = self._id_factory()
        obj: dict[str, Any] = {
            "event": name,
            "uid": uid,
            "event_id": event_id,
            "time": self._stamp(self._clock_ns()),
        }
        tags = self._merged_tags(data.get("tags"))
        if tags:
            obj["tags"] = tags
        for key, value in data.items():
            if key in _EVENT_KEYS:
                continue
            check_key(key)
            kind = type(value)
            if kind is int:
                _check_int(key, value)
            elif kind not in _SCALAR_TYPES and isinstance(value, Mapping):
                _check_nested(value, key, 1)
            obj[key] = value
        return self._finish(event_id, obj)

    def point(self, point: Mapping[str, Any]) -> WireItem:
        """Validate and serialise one ``{measurement, tags, fields, time?}`` point."""
        if not isinstance(point, Mapping):
            raise InvalidEventError(f"a point must be a mapping, not {type(point).__name__}")
        unknown = [key for key in point if key not in _POINT_KEYS]
        if unknown:
            raise InvalidEventError(
                f"point key {unknown[0]!r} is not allowed; use {sorted(_POINT_KEYS)}",
                key=str(unknown[0]),
            )
        measurement = point.get("measurement")
        if not isinstance(measurement, str) or MEASUREMENT_PATTERN.fullmatch(measurement) is None:
            raise InvalidEventError(
                f"'measurement' must match {MEASUREMENT_PATTERN.pattern}", key="measurement"
            )
        fields = point.get("fields")
        if not isinstance(fields, Mapping) or not fields:
            raise InvalidEventError("'fields' must be a non-empty mapping", key="fields")
        for key, value in fields.items():
            check_key(key, what="field key")
            kind = type(value)
            if kind is int:
                _check_int(key, value)
            elif kind not in _SCALAR_TYPES and isinstance(value, Mapping):
                _check_nested(value, key, 1)
        event_id = self._id_factory()
        obj: dict[str, Any] = {"measurement": measurement}
        tags = self._merged_tags(point.get("tags"))
        if tags:
            obj["tags"] = tags
        obj["fields"] = dict(fields)
        obj["time"] = self._stamp(_point_time_ns(point.get("time"), self._clock_ns))
        obj["event_id"] = event_id
        return self._finish(event_id, obj)


def _point_time_ns(value: object, clock_ns: Callable[[], int]) -> int:
    if value is None:
        return clock_ns()
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise InvalidEventError("a point's datetime 'time' must be timezone-aware", key="time")
        return _storable_ns((value - _EPOCH) // dt.timedelta(microseconds=1) * 1000)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return _storable_ns(value)
    raise InvalidEventError(
        "a point's 'time' must be an aware datetime or int nanoseconds since the epoch", key="time"
    )


def _storable_ns(ns: int) -> int:
    """``ns`` when the service can store it: from 1970 to 2262 (``[0, 2**63 - 1)`` ns)."""
    if not 0 <= ns < _MAX_TIME_NS:
        raise InvalidEventError(
            "a point's 'time' must lie between 1970 and 2262 (under 2**63 - 1 ns)", key="time"
        )
    return ns


def encode_batch(
    items: Sequence[WireItem], *, gzip_min_bytes: int | None, gzip_level: int
) -> tuple[bytes, bool]:
    """The JSON array body of ``items``, gzip-compressed when over ``gzip_min_bytes``.

    Returns ``(body, gzipped)``. The gzip header carries no timestamp, so equal
    batches give equal bytes.
    """
    raw = b"[" + b",".join(item.body for item in items) + b"]"
    if gzip_min_bytes is not None and len(raw) > gzip_min_bytes:
        return gzip.compress(raw, compresslevel=gzip_level, mtime=0), True
    return raw, False
