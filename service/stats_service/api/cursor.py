"""Opaque pagination cursors: the key of the last event of a page."""

from __future__ import annotations

import base64
import binascii

import orjson

from stats_service.errors import InvalidInput
from stats_service.events.model import is_valid_event_id

__all__ = ["decode_cursor", "encode_cursor"]


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
