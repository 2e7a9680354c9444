"""The fast path of the event form: flat ASCII events with known keys, checked in one pass.

It answers an :class:`Event` only when the full path (``forms.parse_event``)
would build exactly that event, and None for anything else, which the full
path then answers (with its error when there is one). Most of its work is
done by C code: the data keys are copied in one ``dict.update``, checked
against the set of known valid keys in one ``issuperset`` and measured with
one ``sum(map(len, ...))``; only the values take a Python loop.
"""

from __future__ import annotations

import math
from typing import Any

from stats_service.errors import InvalidEvent
from stats_service.events.event import Event, FieldValue, Limits, make_event
from stats_service.events.ids import new_event_id
from stats_service.events.keys import KNOWN_KEYS_MAX, is_valid_event_id, known_key, known_keys
from stats_service.events.sizes import (
    INT64_MAX,
    INT64_MIN,
    MAX_EVENT_NAME_CHARS,
    MAX_UID_BYTES,
    NUMBER_BYTES,
)
from stats_service.events.times import cached_utc_ns, parse_time

__all__ = ["flat_event"]

_known_names: set[str] = set()
"""Event names already found valid as tag values (ASCII, no control character); bounded."""
_BASE_BYTES = len("identity") + len("event")
"""The key sizes of the tags every event has (``uid``'s is counted with the fields)."""


def _plain_tag_value(value: str) -> bool:
    """Whether ASCII ``value`` passes the tag value checks (no control character, no final ``\\``).

    For ASCII text, ``isprintable`` is false exactly for ``\\x00``-``\\x1f`` and ``\\x7f``.
    """
    return value.isprintable() and not value.endswith("\\")


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
    nesting. It builds exactly the event the full path would build (the same
    tags and fields in the same order); anything else (and every error) is
    left to the full path, which reports it.
    """
    max_string_bytes = limits.max_string_bytes
    name = obj.get("event")
    uid = obj.get("uid")
    if type(name) is not str or type(uid) is not str:
        return None
    if name not in _known_names:
        if not (0 < len(name) <= MAX_EVENT_NAME_CHARS and name.isascii()):
            return None
        if not name.isprintable() or name.endswith("\\"):
            return None
        if len(_known_names) < KNOWN_KEYS_MAX:
            _known_names.add(name)
    if (
        len(name) > max_string_bytes
        or len(uid) > (MAX_UID_BYTES if max_string_bytes > MAX_UID_BYTES else max_string_bytes)
        or not uid.isascii()
        or not uid.isprintable()
        or not identity.isascii()
    ):
        return None
    raw_time = obj.get("time")
    if raw_time is None:
        time_ns = now_ns
    else:
        quick = cached_utc_ns(raw_time) if type(raw_time) is str else None
        if quick is not None:
            time_ns = quick
        else:
            try:
                time_ns = parse_time(raw_time)
            except InvalidEvent:
                return None
    raw_id = obj.get("event_id")
    if raw_id is not None and not is_valid_event_id(raw_id):
        return None

    # The data keys, in the payload's order after ``uid`` (as the full path adds them).
    fields: dict[str, Any] = {"uid": uid}
    fields.update(obj)
    del fields["event"]
    raw_tags = fields.pop("tags", None)
    fields.pop("time", None)
    fields.pop("event_id", None)
    if not known_keys.issuperset(fields) and not all(map(known_key, fields)):
        return None
    size = _BASE_BYTES + len(identity) + len(name)
    isfinite = math.isfinite
    dropped = False
    for value in fields.values():
        kind = type(value)
        if kind is str:
            if not value.isascii() or len(value) > max_string_bytes:
                return None
            size += len(value)
        elif kind is int:
            if not INT64_MIN <= value <= INT64_MAX:
                return None
            size += NUMBER_BYTES
        elif kind is float:
            if not isfinite(value):
                return None
            size += NUMBER_BYTES
        elif kind is bool:
            size += NUMBER_BYTES
        elif value is None:
            dropped = True
        else:
            return None
    if dropped:
        fields = {key: value for key, value in fields.items() if value is not None}
    size += sum(map(len, fields))

    tags: dict[str, str] = {"identity": identity, "event": name}
    if raw_tags is not None:
        if type(raw_tags) is not dict:
            return None
        for key, value in raw_tags.items():
            if not known_key(key):
                return None
            if value is None:
                continue
            if (
                type(value) is not str
                or not value.isascii()
                or len(value) > max_string_bytes
                or not _plain_tag_value(value)
            ):
                return None
            if value:
                if key in tags or key in fields:
                    return None
                tags[key] = value
                size += len(key) + len(value)
    if tag_keys and not tag_keys.isdisjoint(fields):
        for key in [key for key in fields if key in tag_keys and key != "uid"]:
            value = fields[key]
            if type(value) is not str:
                continue
            if not _plain_tag_value(value):
                return None
            del fields[key]
            if value:
                if key in tags:
                    return None
                tags[key] = value
            else:
                size -= len(key)  # an empty tag value is dropped: it counts for nothing

    if len(tags) + len(fields) > limits.max_keys or size > limits.max_event_bytes:
        return None
    checked: dict[str, FieldValue] = fields
    event_id = new_event_id() if raw_id is None else raw_id
    return make_event(event_id, measurement, time_ns, tags, checked)
