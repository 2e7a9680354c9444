"""What goes on the wire: Server-Sent Events frames and WebSocket messages.

An event is its stored JSON, the shape of ``GET /log/event/{id}``. On SSE it
is ``id: <event_id>`` and ``data: <json>`` (the default ``message`` type); an
error is ``event: error`` with the house error body as data; a heartbeat is
a comment line. On WebSocket every message is one JSON object: an event (it
has ``event_id``), ``{"heartbeat": true}``, or ``{"error": {...}}``.
"""

from __future__ import annotations

import orjson

from stats_service.api.errors import error_body
from stats_service.events.model import Event, to_flat_dict

__all__ = [
    "SSE_HEARTBEAT",
    "SSE_OPEN",
    "WS_HEARTBEAT",
    "event_json",
    "sse_error",
    "sse_event",
]

SSE_OPEN = b": open\n\nretry: 2000\n\n"
"""Sent first: flushes the headers and asks browsers to reconnect after 2 s."""
SSE_HEARTBEAT = b": heartbeat\n\n"
WS_HEARTBEAT = '{"heartbeat":true}'


def event_json(event: Event) -> bytes:
    """The stored event as JSON, as ``GET /log/event/{id}`` answers it."""
    return orjson.dumps(to_flat_dict(event))


def sse_event(event_id: str, payload: bytes) -> bytes:
    """One event (its JSON ``payload``) as an SSE frame; its id is the event id (what
    ``Last-Event-ID`` resumes)."""
    return b"id: " + event_id.encode() + b"\ndata: " + payload + b"\n\n"


def sse_error(code: str, message: str) -> bytes:
    """A final error frame (``event: error``) carrying the house error body."""
    return b"event: error\ndata: " + error_body(code, message) + b"\n\n"
