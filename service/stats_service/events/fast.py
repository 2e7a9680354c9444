"""The fast path of the event form: flat ASCII events with known keys, checked in one pass."""

from __future__ import annotations

import math
from typing import Any

from stats_service.errors import InvalidEvent
from stats_service.events.event import Event, FieldValue, Limits
from stats_service.events.keys import CONTROL_RE, EVENT_CONTROL_KEYS, known_key, known_keys
from stats_service.events.normalise import time_and_id
from stats_service.events.sizes import (
    INT64_MAX,
    INT64_MIN,
    MAX_EVENT_NAME_CHARS,
    MAX_UID_BYTES,
    NUMBER_BYTES,
)

__all__ = ["flat_event"]


def _plain_tag_value(value: str, max_string_bytes: int) -> bool:
    """Whether ``value`` is an ASCII tag value that passes every tag value check."""
    return (
        value.isascii()
        and len(value) <= max_string_bytes
        and CONTROL_RE.search(value) is None
        and not value.endswith("\\")
    )


def flat_event(  # noqa: PLR0912, PLR0915  one flat pass keeps the hot path free of calls
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
        or not 0 < len(name) <= MAX_EVENT_NAME_CHARS
        or not _plain_tag_value(name, max_string_bytes)
        or type(uid) is not str
        or not uid.isascii()
        or len(uid) > min(MAX_UID_BYTES, max_string_bytes)
        or CONTROL_RE.search(uid) is not None
        or not identity.isascii()
    ):
        return None
    try:
        time_ns, event_id = time_and_id(obj, now_ns)
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
            if not known_key(key):
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
    known = known_keys
    for key, value in obj.items():
        if key in EVENT_CONTROL_KEYS:
            continue
        if key not in known and not known_key(key):
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
                if CONTROL_RE.search(value) is not None or value.endswith("\\"):
                    return None
                if value:
                    tags[key] = value
                    size += len(key) + len(value)
                continue
            fields[key] = value
            size += len(key) + len(value)
        elif kind is int:
            if not INT64_MIN <= value <= INT64_MAX:
                return None
            fields[key] = value
            size += len(key) + NUMBER_BYTES
        elif kind is float:
            if not math.isfinite(value):
                return None
            fields[key] = value
            size += len(key) + NUMBER_BYTES
        elif kind is bool:
            fields[key] = value
            size += len(key) + NUMBER_BYTES
        else:
            return None
    if len(tags) + len(fields) > limits.max_keys or size > limits.max_event_bytes:
        return None
    return Event(
        event_id=event_id, measurement=measurement, time_ns=time_ns, tags=tags, fields=fields
    )
