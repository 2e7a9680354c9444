"""Body helpers: bounded gunzip and JSON/NDJSON decoding."""

from __future__ import annotations

import gzip

import pytest

from stats_service.api.body import decode_json, decode_ndjson, gunzip
from stats_service.errors import BadRequest, PayloadTooLarge


def test_gunzip_round_trip() -> None:
    data = b'[{"event": "a", "uid": ""}]' * 1000
    assert gunzip(gzip.compress(data), len(data)) == data


def test_gunzip_refuses_to_grow_past_the_limit() -> None:
    bomb = gzip.compress(b"\0" * 10_000_000)
    with pytest.raises(PayloadTooLarge):
        gunzip(bomb, 1_000_000)


@pytest.mark.parametrize(
    "data",
    [b"not gzip", gzip.compress(b"x" * 1000)[:-12], b""],
    ids=["garbage", "truncated", "empty"],
)
def test_gunzip_rejects_broken_input(data: bytes) -> None:
    with pytest.raises(BadRequest):
        gunzip(data, 1_000_000)


@pytest.mark.parametrize(
    "body",
    [b"", b"  \n", b"{", b"\xff", b"[" * 2000],
    ids=["empty", "blank", "open", "utf8", "deep"],
)
def test_decode_json_rejects_unparseable(body: bytes) -> None:
    with pytest.raises(BadRequest):
        decode_json(body)


def test_decode_ndjson_marks_bad_lines_by_index() -> None:
    items, errors = decode_ndjson(b'{"a": 1}\n\n{oops\n{"b": 2}\n')
    assert items == [{"a": 1}, None, {"b": 2}]
    assert list(errors) == [1]


def test_decode_ndjson_needs_a_line() -> None:
    with pytest.raises(BadRequest):
        decode_ndjson(b"\n\n")
