"""The normalised event every ingest path produces and every store keeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stats_service.events.times import format_time

__all__ = ["Event", "FieldValue", "Limits", "make_event", "to_flat_dict"]

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


_new = object.__new__
_slots: Any = vars(Event)  # the slot descriptors of its fields
_set_event_id = _slots["event_id"].__set__
_set_measurement = _slots["measurement"].__set__
_set_time_ns = _slots["time_ns"].__set__
_set_tags = _slots["tags"].__set__
_set_fields = _slots["fields"].__set__


def make_event(
    event_id: str,
    measurement: str,
    time_ns: int,
    tags: dict[str, str],
    fields: dict[str, FieldValue],
) -> Event:
    """``Event(event_id, measurement, time_ns, tags, fields)``, built in half the time.

    A frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__``; this sets the slots directly. The event is the
    same in every respect (equal, frozen, ``dataclasses.replace`` works).
    """
    event: Event = _new(Event)
    _set_event_id(event, event_id)
    _set_measurement(event, measurement)
    _set_time_ns(event, time_ns)
    _set_tags(event, tags)
    _set_fields(event, fields)
    return event


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
