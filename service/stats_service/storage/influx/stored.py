"""An event kept as the line-protocol line that will be sent for it, and back.

The outbox stores each pending event as its encoded line, so the forwarder
sends stored bytes instead of decoding rows and encoding them again. A line
stands for the event exactly when :func:`event_line` gives one: the encoder
accepts the event, no tag value is empty (empty tags are never written, so
they would not come back) and, for the rare line holding a backslash, the
line reads back as the event. :func:`line_event` reads the event back with
the line-protocol parser; the two are inverse on every event
:func:`event_line` accepts (property-tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol, runtime_checkable

from stats_service.errors import InvalidEvent
from stats_service.events.lineprotocol_parse import LineProtocolError, parse_line
from stats_service.events.model import Event
from stats_service.storage.influx.lineprotocol import EVENT_ID_FIELD, encode_event
from stats_service.storage.influx.series import series_hash

__all__ = [
    "EncodedEvent",
    "LineWriter",
    "encoded_event",
    "event_line",
    "line_event",
    "retimed_line",
]


class EncodedEvent(NamedTuple):
    """An accepted event as its stored line, with the facts a queue indexes it by.

    ``tags`` are the event's tags (the ``event`` tag comes from them; they may
    be shared between events of one series: read-only). A named tuple: one is
    built per accepted point, and a tuple builds fastest.
    ``line`` is exactly :func:`event_line` of the event; :func:`line_event`
    of it is the event.
    """

    event_id: str
    measurement: str
    time_ns: int
    tags: dict[str, str]
    series: int
    """:func:`~stats_service.storage.influx.series.series_hash` of measurement and tags."""
    uid: str | None
    """The ``uid`` field when it is a string."""
    line: bytes


@runtime_checkable
class LineWriter(Protocol):
    """A store that takes events already encoded (``DurableStore``), besides ``write``."""

    async def write_lines(self, events: Sequence[EncodedEvent]) -> None:
        """Commit ``events`` as ``write`` commits the events they stand for."""


def encoded_event(event: Event) -> EncodedEvent | None:
    """``event`` encoded; None when no line stands for it (see :func:`event_line`)."""
    line = event_line(event)
    if line is None:
        return None
    uid = event.fields.get("uid")
    return EncodedEvent(
        event_id=event.event_id,
        measurement=event.measurement,
        time_ns=event.time_ns,
        tags=event.tags,
        series=series_hash(event.measurement, event.tags),
        uid=uid if isinstance(uid, str) else None,
        line=line,
    )


def event_line(event: Event) -> bytes | None:
    """The line sent for ``event``, UTF-8; None when it would not read back as ``event``."""
    if "" in event.tags.values():
        return None
    try:
        line = encode_event(event).encode("utf-8")
    except (InvalidEvent, UnicodeEncodeError):
        return None
    if b"\\" in line:  # escapes: rare, so checked by reading the line back
        try:
            if line_event(line) != event:
                return None
        except ValueError:
            return None
    return line


def line_event(line: bytes) -> Event:
    """The event a line made by :func:`event_line` stands for.

    Raises ``ValueError`` for a line that is not one (it has no string
    ``event_id`` field or does not parse).
    """
    try:
        point = parse_line(line)
    except LineProtocolError as exc:
        raise ValueError(f"not a stored line: {exc}") from None
    fields = dict(point.fields)
    event_id = fields.pop(EVENT_ID_FIELD, None)
    if not isinstance(event_id, str) or point.time_ns is None:
        raise ValueError("not a stored line: no event_id field or no time")
    return Event(
        event_id=event_id,
        measurement=point.measurement,
        time_ns=point.time_ns,
        tags=dict(point.tags),
        fields=fields,
    )


def retimed_line(line: bytes, time_ns: int) -> bytes:
    """``line`` with its timestamp (the last space-separated part) replaced by ``time_ns``."""
    return b"%s %d" % (line[: line.rindex(b" ")], time_ns)
