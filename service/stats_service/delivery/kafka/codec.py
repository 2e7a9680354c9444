"""How an event travels as a Kafka message, and its deterministic timestamp.

The key is the event id (so one id always lands in one partition); the value
is orjson ``[measurement, time_ns, tags, fields]``, which keeps ``True``,
``1`` and ``1.0`` apart like the outbox's rows.

Replicas cannot coordinate timestamps the way the single-node outbox does
(it moves a later event of the same series forward by a nanosecond). Here a
time given only to the microsecond (its last three digits zero: arrival times
and every SDK timestamp) gets a sub-microsecond offset derived from the event
id. The offset is a pure function of the id, so a replayed or re-sent event
writes the same point again (an overwrite, never a duplicate), while two
distinct events of one series in the same microsecond collide only when their
ids hash alike (1 in 1000).
"""

from __future__ import annotations

import hashlib
import math

import orjson

from stats_service.errors import InvalidEvent
from stats_service.events.model import Event

__all__ = ["decode_event", "deterministic_time_ns", "encode_event"]

_SUB_MICROSECOND = 1000


def deterministic_time_ns(event_id: str, time_ns: int) -> int:
    """``time_ns`` with a per-id offset of 0-999 ns when it has no sub-microsecond part."""
    if time_ns % _SUB_MICROSECOND:
        return time_ns
    digest = hashlib.blake2b(event_id.encode("utf-8"), digest_size=4).digest()
    return time_ns + int.from_bytes(digest, "big") % _SUB_MICROSECOND


def encode_event(event: Event) -> tuple[bytes, bytes]:
    """``(key, value)`` of the message for ``event``; ``InvalidEvent`` for a NaN or infinity."""
    value = orjson.dumps(
        (
            event.measurement,
            deterministic_time_ns(event.event_id, event.time_ns),
            event.tags,
            event.fields,
        )
    )
    if b"null" in value:  # JSON turns NaN and infinities into null
        for key, field_value in event.fields.items():
            if isinstance(field_value, float) and not math.isfinite(field_value):
                raise InvalidEvent(f"field {key!r} is not a finite number", key=key)
    return event.event_id.encode("utf-8"), value


def decode_event(key: bytes, value: bytes) -> Event:
    """The event a message holds (``ValueError`` when it is not one of ours)."""
    try:
        measurement, time_ns, tags, fields = orjson.loads(value)
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        raise ValueError(f"not an event message: {exc}") from None
    if not isinstance(measurement, str) or not isinstance(time_ns, int):
        raise ValueError("not an event message: bad measurement or time")  # noqa: TRY004 - one error for any bad message
    if not isinstance(tags, dict) or not isinstance(fields, dict):
        raise ValueError("not an event message: bad tags or fields")  # noqa: TRY004 - one error for any bad message
    return Event(
        event_id=key.decode("utf-8", "replace"),
        measurement=measurement,
        time_ns=time_ns,
        tags=tags,
        fields=fields,
    )
