"""Property tests of the event model: any JSON value gives an Event or InvalidEvent, never worse."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from stats_service.errors import InvalidEvent
from stats_service.events.model import (
    RESERVED_KEYS,
    Event,
    Limits,
    format_time,
    parse_event,
    parse_item,
    parse_point,
    parse_time,
    to_flat_dict,
)

BOUNDED = settings(max_examples=200, deadline=None)
KEY_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
MAX_NS = 2**63 - 2
IDENTITY = "statsbob"

# Text as a JSON decoder may produce it: anything, lone surrogates included.
texts = st.text(
    alphabet=st.one_of(st.characters(), st.sampled_from(["\ud800", "\udfff", "\x00", "\n", "\\"])),
    max_size=20,
)
# Keys that pass, keys that fail and the keys with a meaning in either form.
keys = st.one_of(
    st.from_regex(KEY_RE, fullmatch=True).map(lambda key: key[:12]),
    st.from_regex(r"[A-Za-z0-9_]{1,4}", fullmatch=True),
    texts,
    st.sampled_from(
        ["event", "uid", "time", "event_id", "tags", "measurement", "fields", "identity", "a_b"]
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    texts,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=24,
)
# Mostly valid data, so that accepted events are common enough to check their invariants.
valid_keys = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True)
plain_texts = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FF, exclude_characters="\x7f"),
    max_size=12,
)
friendly_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        plain_texts,
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.from_regex(r"[a-z0-9]{1,4}", fullmatch=True), children, max_size=3),
    ),
    max_leaves=8,
)
data_objects = st.dictionaries(
    st.one_of(valid_keys, valid_keys, keys),
    st.one_of(friendly_values, friendly_values, json_values),
    max_size=6,
)
tag_objects = st.one_of(
    st.dictionaries(valid_keys, st.one_of(plain_texts, st.none()), max_size=3),
    st.dictionaries(keys, st.one_of(texts, scalars), max_size=3),
    json_values,
)
times = st.one_of(
    st.none(),
    st.integers(min_value=-10, max_value=2**40),
    st.floats(),
    st.integers(min_value=0, max_value=MAX_NS).map(format_time),
    texts,
    st.booleans(),
)
limits = st.one_of(
    st.just(Limits()),
    st.builds(
        Limits,
        max_event_bytes=st.integers(min_value=0, max_value=300),
        max_string_bytes=st.integers(min_value=0, max_value=40),
        max_keys=st.integers(min_value=0, max_value=12),
        max_depth=st.integers(min_value=0, max_value=3),
    ),
)
event_payloads = st.fixed_dictionaries(
    {
        "event": st.one_of(st.sampled_from(["pnc.test", "e"]), plain_texts, texts, json_values),
        "uid": st.one_of(st.sampled_from(["oisin", ""]), plain_texts, texts, json_values),
    },
    optional={
        "time": times,
        "event_id": st.one_of(st.none(), texts, st.just("entry_1"), json_values),
        "tags": st.one_of(st.none(), tag_objects),
    },
).flatmap(lambda base: data_objects.map(lambda data: {**data, **base}))
valid_points = st.fixed_dictionaries(
    {
        "measurement": st.one_of(
            st.sampled_from(["cpu", "a.b-c"]), st.sampled_from(["m"]), texts, json_values
        ),
        "fields": st.one_of(data_objects, data_objects, json_values),
    },
    optional={
        "time": times,
        "event_id": st.one_of(st.none(), st.just("entry_1"), json_values),
        "tags": tag_objects,
    },
)
point_payloads = st.one_of(
    valid_points,
    valid_points,
    valid_points,
    st.tuples(valid_points, keys, json_values).map(lambda t: {**t[0], t[1]: t[2]}),
)


T = TypeVar("T")


def attempt(call: Callable[[], T]) -> T | InvalidEvent:
    """The result of ``call``, or the :class:`InvalidEvent` it raised (anything else escapes)."""
    try:
        return call()
    except InvalidEvent as error:
        return error


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def check_error(error: InvalidEvent) -> None:
    """Every rejection names its key in text that an HTTP error body can carry."""
    assert error.message
    assert error.key is None or isinstance(error.key, str)
    orjson.dumps({"message": error.message, "key": error.key})


def check_event(event: Event, lim: Limits) -> None:
    """The invariants of every accepted event."""
    assert event.tags["identity"] == IDENTITY
    assert 0 <= event.time_ns <= MAX_NS
    assert not set(event.tags) & set(event.fields)
    assert len(event.tags) + len(event.fields) <= lim.max_keys
    total = 0
    for key, tag in event.tags.items():
        assert KEY_RE.fullmatch(key)
        assert key == "identity" or key not in RESERVED_KEYS
        assert tag
        assert not CONTROL_RE.search(tag)
        assert not tag.endswith("\\")
        assert key == "identity" or utf8_size(tag) <= lim.max_string_bytes
        total += len(key) + utf8_size(tag)
    for key, value in event.fields.items():
        assert KEY_RE.fullmatch(key)
        assert key not in RESERVED_KEYS
        assert isinstance(value, str | int | float)
        if isinstance(value, str):
            assert utf8_size(value) <= lim.max_string_bytes
            total += len(key) + utf8_size(value)
        else:
            total += len(key) + 8
        if isinstance(value, int):
            assert -(2**63) <= value < 2**63
        if isinstance(value, float):
            assert math.isfinite(value)
    assert total <= lim.max_event_bytes
    flat = to_flat_dict(event)
    assert orjson.loads(orjson.dumps(flat)) == flat


# --- arbitrary JSON: an Event or InvalidEvent, never anything else --------------


@BOUNDED
@given(obj=json_values, lim=limits)
def test_any_json_value_is_an_event_or_invalid(obj: Any, lim: Limits) -> None:
    result = attempt(
        lambda: parse_item(obj, identity=IDENTITY, measurement="analytics", now_ns=0, limits=lim)
    )
    if isinstance(result, InvalidEvent):
        check_error(result)
    else:
        check_event(result, lim)


@BOUNDED
@given(obj=event_payloads, lim=limits, tag_keys=st.frozensets(keys, max_size=3))
def test_event_payloads_are_an_event_or_invalid(
    obj: dict[Any, Any], lim: Limits, tag_keys: frozenset[str]
) -> None:
    result = attempt(
        lambda: parse_event(
            obj,
            identity=IDENTITY,
            measurement="analytics",
            now_ns=123,
            limits=lim,
            tag_keys=tag_keys,
        )
    )
    if isinstance(result, InvalidEvent):
        check_error(result)
    else:
        check_event(result, lim)
        assert result.tags["event"] == obj["event"]
        assert result.fields["uid"] == obj["uid"]
        assert result.measurement == "analytics"


@BOUNDED
@given(obj=point_payloads, lim=limits)
def test_point_payloads_are_an_event_or_invalid(obj: dict[Any, Any], lim: Limits) -> None:
    result = attempt(lambda: parse_point(obj, identity=IDENTITY, now_ns=123, limits=lim))
    if isinstance(result, InvalidEvent):
        check_error(result)
    else:
        check_event(result, lim)
        assert set(obj) <= {"measurement", "fields", "tags", "time", "event_id"}
        assert result.measurement == obj["measurement"]
        assert result.fields


# --- well-formed payloads are accepted and normalised as documented -----------

top_keys = st.from_regex(r"[a-su-z][a-z0-9]{0,7}", fullmatch=True).filter(
    lambda key: key not in {"event", "uid", "identity", "measurement"}
)  # no "t": tag keys below start with "t_", so data never collides with them
well_formed_data = st.dictionaries(
    top_keys,
    st.recursive(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
            st.floats(allow_nan=False, allow_infinity=False),
            plain_texts,
        ),
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(st.from_regex(r"[a-z0-9]{1,4}", fullmatch=True), children, max_size=3),
        ),
        max_leaves=6,
    ),
    max_size=6,
)
tag_texts = plain_texts.filter(lambda text: not text.endswith("\\"))
well_formed_tags = st.dictionaries(
    st.from_regex(r"t_[a-z]{1,4}", fullmatch=True), st.one_of(tag_texts, st.none()), max_size=3
)
well_formed_times = st.one_of(
    st.integers(min_value=0, max_value=MAX_NS // 10**9).map(lambda s: (s, s * 10**9)),
    st.integers(min_value=0, max_value=MAX_NS).map(lambda ns: (format_time(ns), ns)),
)
ROOMY = Limits(max_depth=64)  # the strategies above bound every other size


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The fields the key rule documents for ``data``: a reference, written naively."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}_{key}" if prefix else key
        if isinstance(value, dict):
            flat.update(flatten(value, name))
        elif isinstance(value, list):
            flat[name] = orjson.dumps(value).decode()
        elif value is not None:
            flat[name] = value
    return flat


@BOUNDED
@given(
    name=tag_texts.filter(bool),
    uid=plain_texts,
    data=well_formed_data,
    tags=well_formed_tags,
    time=well_formed_times,
)
def test_well_formed_events_are_kept_exactly(
    name: str, uid: str, data: dict[str, Any], tags: dict[str, Any], time: tuple[object, int]
) -> None:
    payload = {**data, "event": name, "uid": uid, "tags": tags, "time": time[0]}
    event = parse_event(payload, identity=IDENTITY, measurement="analytics", now_ns=0, limits=ROOMY)
    check_event(event, ROOMY)
    assert event.time_ns == time[1]
    assert event.tags == {
        "identity": IDENTITY,
        "event": name,
        **{key: value for key, value in tags.items() if value},
    }
    assert event.fields == {"uid": uid, **flatten(data)}
    assert all(type(event.fields[k]) is type(v) for k, v in flatten(data).items())


@BOUNDED
@given(
    measurement=st.from_regex(r"[A-Za-z][A-Za-z0-9_.\-]{0,20}", fullmatch=True),
    fields=well_formed_data.filter(lambda data: bool(flatten(data))),
    tags=well_formed_tags,
)
def test_well_formed_points_are_kept_exactly(
    measurement: str, fields: dict[str, Any], tags: dict[str, Any]
) -> None:
    payload = {"measurement": measurement, "fields": fields, "tags": tags}
    event = parse_point(payload, identity=IDENTITY, now_ns=42, limits=ROOMY)
    check_event(event, ROOMY)
    assert event.measurement == measurement
    assert event.time_ns == 42
    assert event.tags == {"identity": IDENTITY, **{k: v for k, v in tags.items() if v}}
    assert event.fields == flatten(fields)


# --- time -------------------------------------------------------------------------


@BOUNDED
@given(value=st.one_of(json_values, times))
def test_parse_time_is_in_range_or_invalid(value: Any) -> None:
    result = attempt(lambda: parse_time(value))
    if isinstance(result, InvalidEvent):
        check_error(result)
        assert result.key == "time"
    else:
        assert 0 <= result <= MAX_NS
        assert not isinstance(value, bool)


@BOUNDED
@given(time_ns=st.integers(min_value=0, max_value=MAX_NS))
def test_format_then_parse_is_the_identity(time_ns: int) -> None:
    text = format_time(time_ns)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", text)
    assert parse_time(text) == time_ns


@BOUNDED
@given(seconds=st.integers(min_value=0, max_value=(2**63 - 2) // 10**9))
def test_epoch_seconds(seconds: int) -> None:
    assert parse_time(seconds) == seconds * 10**9
    assert parse_time(float(seconds)) == seconds * 10**9  # exact: seconds < 2**53
