"""How the outbox keeps an event in a row: as the line it will send, or as JSON.

A pending or dead-lettered row holds its event in exactly one of two
columns. ``line`` is the event's line-protocol line
(:func:`~stats_service.storage.influx.stored.event_line`), sent to InfluxDB
as it is; ``body`` is the orjson ``[tags, fields]`` of
:mod:`stats_service.sqlite.rows`, kept only for the rare event no line stands
for exactly (an empty tag value, a name line protocol cannot hold), which a
backend that takes events can still store. A row's size, counted against
the pending-bytes bound, is the length of its line, or of its body, id and
measurement.
"""

from __future__ import annotations

from stats_service.events.model import Event
from stats_service.sqlite.rows import decode_event, encode_body
from stats_service.storage.influx.stored import event_line, line_event

__all__ = ["OUTBOX_COLUMNS", "decode_row", "encode_row", "row_size"]

OUTBOX_COLUMNS = "event_id, measurement, time_ns, line, body"
"""The columns :func:`decode_row` takes, in its order."""


def encode_row(event: Event) -> tuple[bytes | None, bytes | None]:
    """``(line, body)`` for ``event``: one of them set; ``InvalidEvent`` for a
    non-finite field."""
    line = event_line(event)
    if line is not None:
        return line, None
    return None, encode_body(event)


def row_size(event: Event, line: bytes | None, body: bytes | None) -> int:
    """The size a row counts against the pending-bytes bound."""
    if line is not None:
        return len(line)
    assert body is not None
    return len(body) + len(event.event_id) + len(event.measurement)


def decode_row(
    event_id: str, measurement: str, time_ns: int, line: bytes | None, body: bytes | None
) -> Event:
    """The event of a row read with :data:`OUTBOX_COLUMNS`."""
    if line is not None:
        return line_event(line)
    assert body is not None
    return decode_event(event_id, measurement, time_ns, body)
