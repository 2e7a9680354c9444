"""How events map to InfluxDB points, for both API versions.

The ``event`` of an event is a tag, its ``uid`` and ``event_id`` are fields
(``EVENT_ID_FIELD``, see :mod:`.lineprotocol`); every other tag and field is
kept as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from stats_service.events.model import Event, FieldValue

__all__ = ["EVENT_TAG", "UID_FIELD", "field_type_of", "unique_events", "unique_lines"]

EVENT_TAG = "event"
"""The tag that holds the event's classification."""
UID_FIELD = "uid"
"""The field that holds the event's ``uid``."""


def field_type_of(value: FieldValue) -> str:
    """The InfluxDB field type name (``float``, ``integer``, ``string``, ``boolean``)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    return "string"


def unique_events(events: Iterable[Event]) -> list[Event]:
    """``events`` without later repeats of an ``event_id`` (the first wins)."""
    seen: set[str] = set()
    unique: list[Event] = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            unique.append(event)
    return unique


def unique_lines(lines: Iterable[tuple[str, bytes]]) -> Mapping[str, bytes]:
    """``(event_id, line)`` pairs by id, in order, without later repeats (the first wins)."""
    pairs = list(lines)
    unique = dict(pairs)  # the usual case, no repeats, without a Python loop
    if len(unique) == len(pairs):
        return unique
    unique = {}
    for event_id, line in pairs:
        unique.setdefault(event_id, line)
    return unique
