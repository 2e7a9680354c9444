"""How an event is kept in a SQLite row (the embedded store and the outbox).

The indexed columns are the event's id, measurement, time, ``event`` tag and
``uid`` (when it is a string); everything else goes into one orjson body of
``[tags, fields]``, which keeps ``True``, ``1`` and ``1.0`` apart.
"""

from __future__ import annotations

import math

import orjson

from stats_service.errors import InvalidEvent
from stats_service.events.model import Event, FieldValue

__all__ = ["EVENT_COLUMNS", "decode_event", "encode_body", "indexed_uid"]

EVENT_COLUMNS = "event_id, measurement, time_ns, body"
"""The columns :func:`decode_event` takes, in its order."""


def encode_body(event: Event) -> bytes:
    """The row body of ``event``; ``InvalidEvent`` for a NaN or infinite field."""
    body = orjson.dumps((event.tags, event.fields))
    if b"null" in body:  # JSON turns NaN and infinities into null
        for key, value in event.fields.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise InvalidEvent(f"field {key!r} is not a finite number", key=key)
    return body


def indexed_uid(fields: dict[str, FieldValue]) -> str | None:
    """The value of the ``uid`` column: the ``uid`` field when it is a string."""
    uid = fields.get("uid")
    return uid if isinstance(uid, str) else None


def decode_event(event_id: str, measurement: str, time_ns: int, body: bytes) -> Event:
    """The event a row holds."""
    tags, fields = orjson.loads(body)
    return Event(
        event_id=event_id, measurement=measurement, time_ns=time_ns, tags=tags, fields=fields
    )
