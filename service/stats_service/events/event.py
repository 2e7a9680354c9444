"""The normalised event every ingest path produces and every store keeps."""

from __future__ import annotations

from dataclasses import dataclass, field

from stats_service.events.times import format_time

__all__ = ["Event", "FieldValue", "Limits", "to_flat_dict"]

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
