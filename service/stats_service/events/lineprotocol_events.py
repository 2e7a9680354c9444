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

from dataclasses import replace
from typing import Any, Final

from stats_service.errors import InvalidEvent
from stats_service.events.lineprotocol_parse import ParsedPoint, UnsignedInt
from stats_service.events.model import Event, Limits, format_time, parse_point

__all__ = ["event_from_point"]

_INT64_MAX: Final = 2**63 - 1
_MAX_TIME_NS: Final = 2**63 - 1
_EVENT_ID_FIELD: Final = "event_id"


def event_from_point(point: ParsedPoint, *, identity: str, now_ns: int, limits: Limits) -> Event:
    """The event for ``point``; :class:`InvalidEvent` when the model refuses it."""
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
