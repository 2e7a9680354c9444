"""msgspec decodes bodies to exactly the values (and refusals) of the exact orjson path.

``decode_json`` and ``decode_ndjson`` try msgspec first and fall back to the
exact path (orjson, with the standard library for long integers) for every
body msgspec refuses, so messages stay the exact path's. These tests hold
the two decoders to one answer on arbitrary JSON text, valid or broken.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stats_service.api import body as body_module
from stats_service.api.body import decode_json, decode_ndjson
from stats_service.errors import BadRequest

BOUNDED = settings(max_examples=400, deadline=None)

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(10**120), max_value=10**120),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=16,
)
breakers = st.sampled_from(
    [
        b"NaN",
        b"-Infinity",
        b"1e400",
        b"1" + b"0" * 120,
        b"1" + b"0" * 320 + b".5",
        b"27" * 2200,
        b'"\\ud800"',
        b'"\\udc00"',
        b'"\x80"',
        b'"\xed\xa0\x80"',
        b"\xef\xbb\xbf",
        b"01",
        b"-",
        b'"\t"',
        b"\x00",
        b"\x0c",
        b",",
        b"]",
        b" ",
        b"\n",
        b"[" * 1030,
    ]
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """JSON text of a value, as often as not broken somewhere."""
    value = draw(json_values)
    text = json.dumps(value, ensure_ascii=draw(st.booleans()))
    body = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        cut = draw(st.integers(min_value=0, max_value=len(body)))
        body = body[:cut] + draw(breakers) + body[cut:]
    return body


def _same(value: Any) -> Any:
    """``value`` with floats as (repr) text, so that -0.0 and 0.0 differ and NaN equals NaN."""
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, list):
        return [_same(item) for item in value]
    if isinstance(value, dict):
        return {key: _same(item) for key, item in value.items()}
    return value


def _answer(call: Callable[[], Any]) -> Any:
    try:
        return ("value", _same(call()))
    except BadRequest as exc:
        return ("error", exc.message)


def _exact_json(body: bytes) -> Any:
    """What the exact path alone answers (the decoder before msgspec)."""
    if not body.strip():
        raise BadRequest("body is empty; a JSON document is required")
    try:
        return body_module._loads_exact(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None


@pytest.fixture
def msgspec_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The bodies msgspec was asked to decode while the test runs."""
    calls: list[bytes] = []
    real = body_module._DECODER

    class Spy:
        def decode(self, data: bytes) -> Any:
            calls.append(data)
            return real.decode(data)

    monkeypatch.setattr(body_module, "_DECODER", Spy())
    return calls


@BOUNDED
@given(bodies())
def test_json_bodies_decode_as_the_exact_path_decodes_them(body: bytes) -> None:
    assert _answer(lambda: decode_json(body)) == _answer(lambda: _exact_json(body))


@BOUNDED
@given(st.lists(bodies(), max_size=5), st.sampled_from([b"\n", b"\r\n", b"\n\n"]))
def test_ndjson_lines_decode_as_the_exact_path_decodes_them(
    lines: list[bytes], newline: bytes
) -> None:
    body = newline.join(line.replace(b"\n", b" ") for line in lines)
    expected_items: list[Any] = []
    expected_errors: dict[int, str] = {}
    for line in body.split(b"\n"):
        if not line.strip():
            continue
        try:
            expected_items.append(_same(body_module._loads_exact(line)))
        except orjson.JSONDecodeError as exc:
            expected_errors[len(expected_items)] = f"line is not valid JSON: {exc}"
            expected_items.append(None)
    if not expected_items:
        with pytest.raises(BadRequest, match="no JSON lines"):
            decode_ndjson(body)
        return
    items, errors = decode_ndjson(body)
    assert ([_same(item) for item in items], errors) == (expected_items, expected_errors)


def test_a_plain_batch_is_decoded_by_msgspec(msgspec_calls: list[bytes]) -> None:
    body = b'[{"event": "a", "uid": "u", "n": 12345678901234567890123}]'
    assert decode_json(body) == [{"event": "a", "uid": "u", "n": 12345678901234567890123}]
    assert msgspec_calls == [body]


def test_ndjson_lines_are_decoded_by_msgspec_one_by_one(msgspec_calls: list[bytes]) -> None:
    items, errors = decode_ndjson(b'{"a": 1}\n\n[2]\n{bad\n')
    assert items == [{"a": 1}, [2], None]
    assert errors == {
        2: "line is not valid JSON: unexpected character, expected a string key: "
        "line 1 column 2 (char 1)"
    }
    assert msgspec_calls == [b'{"a": 1}', b"[2]", b"{bad"]


def test_integers_past_the_digit_bound_take_the_exact_path(msgspec_calls: list[bytes]) -> None:
    digits = "31415926" * 13  # 104 digits: the exact path decodes them as 10**100
    assert decode_json(f"[{digits}, -{digits}]".encode()) == [10**100, -(10**100)]
    assert decode_ndjson(f"{digits}".encode()) == ([10**100], {})
    assert msgspec_calls == []


def test_a_raised_recursion_limit_takes_the_exact_path(
    msgspec_calls: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = sys.getrecursionlimit()
    monkeypatch.setattr(sys, "getrecursionlimit", lambda: limit + 5000)
    deep = b"[" * 1100 + b"]" * 1100
    with pytest.raises(BadRequest, match="depth limit exceeded"):
        decode_json(deep)
    assert msgspec_calls == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1e400]", "number is infinity when parsed as double"),
        (b'["\\ud800"]', "no low surrogate in string"),
        (b'["\x80"]', "str is not valid UTF-8"),
        (b"[NaN]", "unexpected character"),
        (b"[" * 1000 + b"]" * 1000, None),
    ],
    ids=["infinity", "lone-surrogate", "bad-utf8", "nan", "deep-for-msgspec"],
)
def test_what_msgspec_refuses_gets_the_exact_paths_answer(
    body: bytes, message: str | None, msgspec_calls: list[bytes]
) -> None:
    if message is None:
        value = decode_json(body)
        depth = 0
        while isinstance(value, list) and value:
            value, depth = value[0], depth + 1
        assert depth == 999
    else:
        with pytest.raises(BadRequest, match=message):
            decode_json(body)
    assert msgspec_calls == [body]


def test_floats_decode_to_the_same_doubles() -> None:
    texts = ["0.1", "1e-320", "-0.0", "1.7976931348623157e308", "2.2250738585072014e-308"]
    for text in texts:
        value = decode_json(f"[{text}]".encode())[0]
        assert repr(value) == repr(orjson.loads(text))
        assert math.isfinite(value)
