"""Pagination cursors round-trip and reject anything they did not make."""

from __future__ import annotations

import base64

import pytest

from stats_service.api.cursor import decode_cursor, encode_cursor
from stats_service.errors import InvalidInput


@pytest.mark.parametrize(
    "key",
    [(0, "a"), (1_700_000_000_123_456_789, "entry_" + "f" * 32), (2**63 - 1, "x.y:z-1")],
    ids=["zero", "typical", "max"],
)
def test_round_trip(key: tuple[int, str]) -> None:
    assert decode_cursor(encode_cursor(key)) == key


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        _b64(b"[1]"),
        _b64(b'["1", "a"]'),
        _b64(b'[-1, "a"]'),
        _b64(b'[1, "bad id!"]'),
        _b64(b'[true, "a"]'),
        _b64(b"{}"),
    ],
    ids=["not-base64", "short", "string-time", "negative", "bad-id", "bool-time", "object"],
)
def test_rejects_forged_cursors(cursor: str) -> None:
    with pytest.raises(InvalidInput):
        decode_cursor(cursor)
