"""Opaque pagination cursors: the key of the last event of a page, or after partial
pages (the backend down) the :class:`~stats_service.delivery.partial.PartialPosition`
that resumes them."""

from __future__ import annotations

import base64
import binascii

import orjson

from stats_service.delivery.partial import PartialPosition
from stats_service.errors import InvalidInput
from stats_service.events.model import is_valid_event_id

__all__ = ["decode_cursor", "decode_position", "encode_cursor", "encode_partial_cursor"]

_PARTIAL = "p"


def encode_cursor(after: tuple[int, str]) -> str:
    """A URL-safe token for ``(time_ns, event_id)``."""
    return base64.urlsafe_b64encode(orjson.dumps([after[0], after[1]])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """The key inside a cursor; 422 when it was not made by ``encode_cursor``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        time_ns, event_id = orjson.loads(raw)
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidInput("cursor is not valid", details={"key": "cursor"}) from None
    if (
        not isinstance(time_ns, int)
        or isinstance(time_ns, bool)
        or not 0 <= time_ns < 2**63
        or not is_valid_event_id(event_id)
    ):
        raise InvalidInput("cursor is not valid", details={"key": "cursor"})
    return time_ns, event_id


def encode_partial_cursor(position: PartialPosition) -> str:
    """A URL-safe token for a partial position (told apart by its first element)."""
    complete, pending = position.complete_after, position.pending_after
    raw = [
        _PARTIAL,
        None if complete is None else complete[0],
        None if complete is None else complete[1],
        None if pending is None else pending[0],
        None if pending is None else pending[1],
        position.since_ns,
    ]
    return base64.urlsafe_b64encode(orjson.dumps(raw)).decode().rstrip("=")


def decode_position(cursor: str) -> tuple[int, str] | PartialPosition:
    """The key or partial position inside a cursor; 422 when no encoder made it."""
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidInput("cursor is not valid", details={"key": "cursor"}) from None
    if not (isinstance(raw, list) and len(raw) == 6 and raw[0] == _PARTIAL):
        return decode_cursor(cursor)
    since_ns = raw[5]
    if not _is_time(since_ns):
        raise InvalidInput("cursor is not valid", details={"key": "cursor"})
    return PartialPosition(_key_of(raw[1], raw[2]), _key_of(raw[3], raw[4]), since_ns)


def _is_time(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _key_of(time_ns: object, event_id: object) -> tuple[int, str] | None:
    if time_ns is None and event_id is None:
        return None
    if not _is_time(time_ns) or not isinstance(event_id, str) or not is_valid_event_id(event_id):
        raise InvalidInput("cursor is not valid", details={"key": "cursor"})
    assert isinstance(time_ns, int)
    return time_ns, event_id
