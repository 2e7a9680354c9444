"""Integers outside signed 64-bit are refused by name on every ingest path, never rounded.

A JSON decoder may turn an integer it cannot hold into a float; the service
must still see the integer the client wrote and refuse it as out of range.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stats_service.api.body import decode_json, decode_ndjson
from stats_service.app import create_app
from stats_service.auth import AccessFile, TokenClaims, TokenSigner
from stats_service.errors import BadRequest
from stats_service.settings import load_settings
from stats_service.storage.memory import MemoryStore

KEY = "f" * 48
NOW = 1_800_000_000.0
OUT_OF_RANGE = [
    2**63,
    2**64,
    123456789012345678901234567890,
    -(2**63) - 1,
    -(10**40),
]
IDS = ["2**63", "2**64", "30-digits", "-2**63-1", "-10**40"]
BOUNDED = settings(max_examples=200, deadline=None)
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
beyond_int64 = st.one_of(st.integers(min_value=2**63), st.integers(max_value=-(2**63) - 1))


def _writer_token(data_dir: Path) -> str:
    record = AccessFile(data_dir / "access.json").add(
        "app", ["write"], expires_at=None, now=int(NOW)
    )
    claims = TokenClaims("app", record.token_id, record.scopes, int(NOW), None)
    return TokenSigner([KEY]).issue(claims)


def _post(
    data_dir: Path,
    path: str,
    body: bytes,
    *,
    fast_lane: bool,
    headers: dict[str, str] | None = None,
) -> tuple[httpx.Response, MemoryStore]:
    settings_ = load_settings(None, {"STATS_DATA_DIR": str(data_dir), "STATS_SECRET_KEYS": KEY})
    store = MemoryStore()
    app = create_app(settings_, store=store, clock=lambda: NOW, fast_lane=fast_lane)
    sent = {"Authorization": f"Token {_writer_token(data_dir)}", **(headers or {})}

    async def scenario() -> httpx.Response:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await client.post(path, content=body, headers=sent)

    return asyncio.run(scenario()), store


def _stored(store: MemoryStore) -> list[Any]:
    async def fields() -> list[Any]:
        await store.open()
        found = [await store.get(event_id) for event_id in store.event_ids()]
        return [event.fields for event in found if event is not None]

    return asyncio.run(fields())


@pytest.mark.parametrize("value", OUT_OF_RANGE, ids=IDS)
@pytest.mark.parametrize("fast_lane", [True, False], ids=["fast-lane", "routed"])
def test_one_event_with_a_huge_integer_is_422_naming_the_key(
    tmp_path: Path, value: int, fast_lane: bool
) -> None:
    body = json.dumps({"event": "e", "uid": "u", "big": value}).encode()
    response, store = _post(tmp_path, "/log/event", body, fast_lane=fast_lane)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert "'big'" in error["message"]
    assert "64-bit" in error["message"]
    assert _stored(store) == []


@pytest.mark.parametrize("value", OUT_OF_RANGE, ids=IDS)
def test_a_point_with_a_huge_integer_is_422(tmp_path: Path, value: int) -> None:
    body = json.dumps([{"measurement": "m", "fields": {"big": value}}]).encode()
    response, store = _post(tmp_path, "/log/event", body, fast_lane=True)
    assert response.status_code == 422, response.text
    assert "'big'" in response.json()["error"]["message"]
    assert _stored(store) == []


@pytest.mark.parametrize("value", OUT_OF_RANGE, ids=IDS)
@pytest.mark.parametrize(
    ("content_type", "encode"),
    [
        ("application/json", lambda items: json.dumps(items).encode()),
        ("application/x-ndjson", lambda items: "\n".join(map(json.dumps, items)).encode()),
        (
            "application/json+gzip",
            lambda items: gzip.compress(json.dumps(items).encode()),
        ),
    ],
    ids=["array", "ndjson", "gzip"],
)
def test_a_batch_item_with_a_huge_integer_is_rejected_naming_the_key(
    tmp_path: Path, value: int, content_type: str, encode: Any
) -> None:
    items = [{"event": "ok", "uid": "u", "n": 1}, {"event": "e", "uid": "u", "big": value}]
    headers = {"Content-Type": content_type.removesuffix("+gzip")}
    if content_type.endswith("+gzip"):
        headers["Content-Encoding"] = "gzip"
    response, store = _post(tmp_path, "/log/events", encode(items), fast_lane=True, headers=headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["accepted"] == 1
    [rejected] = result["rejected"]
    assert rejected["index"] == 1
    assert "'big'" in rejected["error"]
    assert _stored(store) == [{"uid": "u", "n": 1}]


@pytest.mark.parametrize("value", OUT_OF_RANGE, ids=IDS)
def test_a_huge_integer_inside_a_list_is_never_rounded(tmp_path: Path, value: int) -> None:
    body = json.dumps({"event": "e", "uid": "u", "many": [1, value]}).encode()
    response, store = _post(tmp_path, "/log/event", body, fast_lane=True)
    if -(2**63) <= value < 2**64:
        # A list is kept as its JSON text: it holds the very digits sent.
        assert response.status_code == 200, response.text
        assert _stored(store) == [{"uid": "u", "many": f"[1,{value}]"}]
    else:
        assert response.status_code == 422, response.text
        assert "'many'" in response.json()["error"]["message"]
        assert _stored(store) == []


@BOUNDED
@given(value=st.one_of(int64, beyond_int64))
def test_decode_json_keeps_every_integer_exactly(value: int) -> None:
    decoded = decode_json(json.dumps({"n": value, "list": [value]}).encode())
    assert decoded == {"n": value, "list": [value]}
    assert type(decoded["n"]) is int


@BOUNDED
@given(value=beyond_int64)
def test_decode_ndjson_keeps_every_integer_exactly(value: int) -> None:
    items, errors = decode_ndjson(b'{"a": 1}\n' + json.dumps({"n": value}).encode())
    assert items == [{"a": 1}, {"n": value}]
    assert errors == {}


@BOUNDED
@given(
    value=st.floats(allow_nan=False, allow_infinity=False),
    digits=st.text(alphabet="0123456789", min_size=19, max_size=40),
)
def test_decode_json_leaves_floats_and_long_digit_strings_alone(value: float, digits: str) -> None:
    decoded = decode_json(json.dumps({"x": value, "s": digits}).encode())
    assert decoded == {"x": value, "s": digits}


@pytest.mark.parametrize("sign", ["", "-"], ids=["positive", "negative"])
def test_an_integer_of_thousands_of_digits_is_still_422(tmp_path: Path, sign: str) -> None:
    body = b'{"event": "e", "uid": "u", "big": ' + sign.encode() + b"9" * 5000 + b"}"
    response, store = _post(tmp_path, "/log/event", body, fast_lane=True)
    assert response.status_code == 422, response.text
    assert "'big'" in response.json()["error"]["message"]
    assert _stored(store) == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"n": 12345678901234567890123, "x": 1e400}',
        b'{"n": 12345678901234567890123, "x": NaN}',
        b'{"n": 1' + b"0" * 400 + b', "x": Infinity}',
        b'{"n": 12345678901234567890123,}',
    ],
    ids=["huge-float", "nan", "infinity", "trailing-comma"],
)
def test_the_exact_decoder_refuses_what_orjson_refuses(body: bytes) -> None:
    with pytest.raises(BadRequest):
        decode_json(body)
