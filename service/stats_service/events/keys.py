"""The rules for names: tag and field keys, nested keys, event ids and measurements.

The module docstring of :mod:`stats_service.events.model` states them; this
module holds their patterns, the errors that name a broken rule, and a
bounded set of keys already found valid (for the fast paths).
"""

from __future__ import annotations

import re
from typing import TypeGuard

from stats_service.errors import InvalidEvent
from stats_service.events.messages import safe_key, show

__all__ = [
    "CONTROL_RE",
    "EVENT_CONTROL_KEYS",
    "EVENT_ID_PATTERN",
    "KEY_PATTERN",
    "KEY_RE",
    "KNOWN_KEYS_MAX",
    "MEASUREMENT_PATTERN",
    "MEASUREMENT_RE",
    "POINT_KEYS",
    "RESERVED_KEYS",
    "bad_key",
    "collision",
    "is_valid_event_id",
    "known_key",
    "known_keys",
    "nested_key",
]

RESERVED_KEYS: frozenset[str] = frozenset({"time", "event_id", "measurement", "identity"})
"""Keys the service sets itself; never allowed as data or tag keys."""

KEY_PATTERN = r"[A-Za-z][A-Za-z0-9_]{0,127}"
KEY_RE = re.compile(KEY_PATTERN)
KEY_RULE = f"keys must match ^{KEY_PATTERN}$"
_SEGMENT_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_]*"
_SEGMENT_RE = re.compile(_SEGMENT_PATTERN)
_SEGMENT_RULE = f"nested keys must match ^{_SEGMENT_PATTERN}$"
_MAX_KEY_CHARS = 128
_RESERVED_NOTE = "event_id, identity, measurement and time are set by the service"

EVENT_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}"
_EVENT_ID_RE = re.compile(EVENT_ID_PATTERN)
MEASUREMENT_PATTERN = r"[A-Za-z][A-Za-z0-9_.\-]{0,127}"
MEASUREMENT_RE = re.compile(MEASUREMENT_PATTERN)
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
EVENT_CONTROL_KEYS = frozenset({"event", "uid", "time", "event_id", "tags"})
POINT_KEYS = ("measurement", "tags", "fields", "time", "event_id")


def is_valid_event_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a string usable as an event id.

    An id is 1 to 128 characters: an ASCII letter or digit, then letters,
    digits, ``_``, ``.``, ``:`` or ``-``.
    """
    return isinstance(value, str) and _EVENT_ID_RE.fullmatch(value) is not None


KNOWN_KEYS_MAX = 4096
known_keys: set[str] = set()
"""Top-level keys already found valid (key rule, not reserved); bounded."""


def known_key(key: object) -> bool:
    """Whether ``key`` is a valid, unreserved tag or data key; remembered when it is."""
    if key in known_keys:
        return True
    if not isinstance(key, str) or KEY_RE.fullmatch(key) is None or key in RESERVED_KEYS:
        return False
    if len(known_keys) < KNOWN_KEYS_MAX:
        known_keys.add(key)
    return True


def nested_key(prefix: str, path: str, name: object, label: str) -> tuple[str, str]:
    """The flattened key and dotted path of key ``name`` nested under ``prefix``."""
    shown = f"{path}.{name}"
    if not isinstance(name, str) or _SEGMENT_RE.fullmatch(name) is None:
        raise InvalidEvent(
            f"{label} key {show(shown)} is invalid: {_SEGMENT_RULE}",
            key=path.split(".", 1)[0],
        )
    key = f"{prefix}_{name}"
    if len(key) > _MAX_KEY_CHARS:
        raise InvalidEvent(
            f"{label} key {show(shown)} flattens to {show(key)}, which is invalid: {KEY_RULE}",
            key=key,
        )
    if key in RESERVED_KEYS:
        raise InvalidEvent(
            f"{label} key {shown!r} flattens to {key!r}, which is reserved: {_RESERVED_NOTE}",
            key=key,
        )
    return key, shown


def bad_key(key: object, label: str) -> InvalidEvent:
    """The error for a top-level tag or data key that breaks the key rule."""
    if isinstance(key, str) and key in RESERVED_KEYS:
        return InvalidEvent(f"{label} key {key!r} is reserved: {_RESERVED_NOTE}", key=key)
    return InvalidEvent(f"{label} key {show(key)} is invalid: {KEY_RULE}", key=safe_key(key))


def collision(label: str, key: str, shown: str) -> InvalidEvent:
    """The error for a key that is already a tag or field of the event."""
    named = repr(key) if shown == key else f"{show(shown)} (flattened to {key!r})"
    return InvalidEvent(
        f"{label} key {named} collides with another key of this event "
        "(tags, fields and flattened keys share one namespace)",
        key=key,
    )
