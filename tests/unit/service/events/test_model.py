"""Unit tests of the event model: every validation and normalisation rule, table-driven."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest

from stats_service.errors import InvalidEvent
from stats_service.events import model
from stats_service.events.model import (
    RESERVED_KEYS,
    Event,
    Limits,
    format_time,
    is_valid_event_id,
    new_event_id,
    parse_event,
    parse_item,
    parse_point,
    parse_time,
    to_flat_dict,
)

NOW_NS = 1_461_587_388_844_949_259  # 2016-04-25T12:29:48.844949259Z
MAX_NS = 2**63 - 2  # the last accepted time
IDENTITY = "statsbob"
MEASUREMENT = "analytics"
INJECTION = "x'; drop database analytics; select '"
EVENT_ID = "entry_4a42fcc243884bb58cb6d00759c2955d"


def event(
    obj: object, *, limits: Limits | None = None, tag_keys: frozenset[str] = frozenset()
) -> Event:
    return parse_event(
        obj,
        identity=IDENTITY,
        measurement=MEASUREMENT,
        now_ns=NOW_NS,
        limits=limits or Limits(),
        tag_keys=tag_keys,
    )


def point(obj: object, *, limits: Limits | None = None) -> Event:
    return parse_point(obj, identity=IDENTITY, now_ns=NOW_NS, limits=limits or Limits())


def data(**extra: Any) -> dict[str, Any]:
    """A minimal valid event-form payload plus ``extra`` keys."""
    return {"event": "pnc.test", "uid": "oisin", **extra}


def rejected_event(
    obj: object, *, limits: Limits | None = None, tag_keys: frozenset[str] = frozenset()
) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as info:
        event(obj, limits=limits, tag_keys=tag_keys)
    return info.value


def rejected_point(obj: object, *, limits: Limits | None = None) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as info:
        point(obj, limits=limits)
    return info.value


# --- public surface -----------------------------------------------------------


def test_public_surface_is_exactly_the_documented_one() -> None:
    assert sorted(model.__all__) == sorted(
        [
            "RESERVED_KEYS",
            "Event",
            "FieldValue",
            "Limits",
            "format_time",
            "is_valid_event_id",
            "new_event_id",
            "parse_event",
            "parse_item",
            "parse_point",
            "parse_time",
            "to_flat_dict",
        ]
    )


def test_reserved_keys() -> None:
    assert frozenset({"time", "event_id", "measurement", "identity"}) == RESERVED_KEYS


# --- event ids ----------------------------------------------------------------


def test_new_event_id_is_entry_and_a_version_7_uuid() -> None:
    before_ms = time.time_ns() // 1_000_000
    event_id = new_event_id()
    after_ms = time.time_ns() // 1_000_000
    assert re.fullmatch(r"entry_[0-9a-f]{32}", event_id)
    parsed = uuid.UUID(event_id.removeprefix("entry_"))
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert before_ms <= parsed.int >> 80 <= after_ms
    assert is_valid_event_id(event_id)


def test_new_event_ids_made_later_sort_later() -> None:
    earlier = new_event_id()
    time.sleep(0.002)
    assert new_event_id() > earlier


def test_new_event_ids_differ() -> None:
    assert len({new_event_id() for _ in range(100)}) == 100


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (EVENT_ID, True),
        ("a", True),
        ("0", True),
        ("client-7:batch.3_x", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("", False),
        ("-abc", False),
        ("_abc", False),
        ("a b", False),
        ("abc\n", False),
        ("é", False),
        (INJECTION, False),
        (None, False),
        (42, False),
        (["entry_1"], False),
    ],
    ids=[
        "entry-uuid",
        "one-letter",
        "one-digit",
        "punctuation",
        "128-chars",
        "129-chars",
        "empty",
        "leading-dash",
        "leading-underscore",
        "space",
        "trailing-newline",
        "non-ascii",
        "injection",
        "none",
        "int",
        "list",
    ],
)
def test_is_valid_event_id(value: object, valid: bool) -> None:
    assert is_valid_event_id(value) is valid


# --- time -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected_ns"),
    [
        ("2016-04-25T12:29:48.844949259Z", NOW_NS),
        ("2016-04-25t12:29:48.844949259z", NOW_NS),
        ("2016-04-25T13:29:48.844949259+01:00", NOW_NS),
        ("2016-04-25T13:29:48.844949259+0100", NOW_NS),
        ("2016-04-25T13:29:48.844949259+01", NOW_NS),
        ("2016-04-25T11:59:48.844949259-00:30", NOW_NS),
        ("2016-04-25 12:29:48.844949259", NOW_NS),
        ("2016-04-25T12:29:48,844949259Z", NOW_NS),
        ("2024-01-02T03:04:05+01:00", 1_704_161_045_000_000_000),
        ("2024-01-02 03:04:05", 1_704_164_645_000_000_000),
        ("2024-01-02T03:04:05", 1_704_164_645_000_000_000),
        ("2024-01-02T03:04", 1_704_164_640_000_000_000),
        ("2024-01-02", 1_704_153_600_000_000_000),
        ("2024-01-02T03:04:05.5Z", 1_704_164_645_500_000_000),
        ("2024-01-02T03:04:05.000001Z", 1_704_164_645_000_001_000),
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T01:00:00+01:00", 0),
        ("2262-04-11T23:47:16.854775806Z", MAX_NS),
        (0, 0),
        (1_461_587_388, 1_461_587_388_000_000_000),
        (1_461_587_388.5, 1_461_587_388_500_000_000),
        (0.000000001, 1),
        (1.25e9, 1_250_000_000_000_000_000),
    ],
    ids=[
        "nanoseconds-z",
        "lowercase-t-z",
        "offset-colon",
        "offset-no-colon",
        "offset-hours",
        "negative-half-hour-offset",
        "naive-space-nanoseconds",
        "comma-fraction",
        "documented-offset-example",
        "documented-naive-example",
        "naive-t",
        "no-seconds",
        "date-only",
        "one-fraction-digit",
        "microsecond",
        "epoch-z",
        "epoch-with-offset",
        "last-valid-instant",
        "epoch-int-zero",
        "epoch-int",
        "epoch-float",
        "epoch-float-one-ns",
        "epoch-float-exponent",
    ],
)
def test_parse_time_accepts(value: object, expected_ns: int) -> None:
    assert parse_time(value) == expected_ns


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        None,
        [],
        {},
        float("nan"),
        float("inf"),
        float("-inf"),
        -1,
        -0.5,
        2**63 // 10**9 + 1,
        9.3e9,
        10**400,
        "",
        "Mon 25 Apr 2016 13:29:48 BST",
        "1461587388",
        "1969-12-31T23:59:59.999999999Z",
        "1970-01-01T00:00:00+00:01",
        "2262-04-11T23:47:16.854775807Z",
        "9999-12-31T23:59:59Z",
        "0000-01-01",
        "2016-02-30",
        "2016-13-01",
        "2016-04-25T24:00:00Z",
        "2016-04-25T12:60:00Z",
        "2016-04-25T12:29:60Z",
        "2016-04-25T12:29:48.1234567890Z",
        "2016-04-25T12:29:48.Z",
        "2016-04-25T12:29.5Z",
        "2016-04-25T12:29:48+24:00",
        "2016-04-25T12:29:48+01:60",
        "2016-04-25T12:29:48+1",
        "2016-04-25x12:29:48",
        "2016-04-25Z",
        " 2016-04-25",
        "2016-04-25\n",
        "\uff12\uff10\uff11\uff16-04-25",
        "2016-W17-1",
        "20160425T122948Z",
    ],
    ids=[
        "true",
        "false",
        "none",
        "list",
        "dict",
        "nan",
        "inf",
        "minus-inf",
        "negative-int",
        "negative-float",
        "int-past-2262",
        "float-past-2262",
        "huge-int",
        "empty",
        "date-command-output",
        "numeric-string",
        "before-epoch",
        "before-epoch-by-offset",
        "first-invalid-instant",
        "year-9999",
        "year-zero",
        "february-30",
        "month-13",
        "hour-24",
        "minute-60",
        "leap-second",
        "ten-fraction-digits",
        "empty-fraction",
        "fraction-of-minutes",
        "offset-24h",
        "offset-60min",
        "offset-one-digit",
        "bad-separator",
        "offset-without-time",
        "leading-space",
        "trailing-newline",
        "fullwidth-digits",
        "week-date",
        "basic-format",
    ],
)
def test_parse_time_rejects(value: object) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_time(value)
    assert info.value.key == "time"


def test_parse_time_names_the_given_key() -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_time("yesterday", key="since")
    assert info.value.key == "since"
    assert "since" in info.value.message


@pytest.mark.parametrize(
    "text",
    [
        "2016-04-25T12:29:48.844949259Z",
        "1970-01-01T00:00:00.000000000Z",
        "1970-01-01T00:00:00.000000001Z",
        "2000-02-29T23:59:59.999999999Z",
        "2262-04-11T23:47:16.854775806Z",
    ],
    ids=["original", "epoch", "one-ns", "leap-day", "last-instant"],
)
def test_format_time_round_trips_nanoseconds(text: str) -> None:
    assert format_time(parse_time(text)) == text


@pytest.mark.parametrize(
    ("time_ns", "text"),
    [
        (0, "1970-01-01T00:00:00.000000000Z"),
        (NOW_NS, "2016-04-25T12:29:48.844949259Z"),
        (1_704_164_645_500_000_000, "2024-01-02T03:04:05.500000000Z"),
    ],
    ids=["epoch", "original", "half-second"],
)
def test_format_time(time_ns: int, text: str) -> None:
    assert format_time(time_ns) == text


# --- the event form: the original contract ------------------------------------


def test_original_curl_payload() -> None:
    result = event({"event": "pnc.test", "uid": "oisin", "now": "Mon 25 Apr 2016 13:29:48 BST"})
    assert result.measurement == MEASUREMENT
    assert result.time_ns == NOW_NS
    assert re.fullmatch(r"entry_[0-9a-f]{32}", result.event_id)
    assert result.tags == {"identity": IDENTITY, "event": "pnc.test"}
    assert result.fields == {"uid": "oisin", "now": "Mon 25 Apr 2016 13:29:48 BST"}


def test_to_flat_dict_of_the_original_payload() -> None:
    result = event(data(now="Mon 25 Apr 2016 13:29:48 BST", event_id=EVENT_ID))
    assert to_flat_dict(result) == {
        "event_id": EVENT_ID,
        "time": "2016-04-25T12:29:48.844949259Z",
        "measurement": MEASUREMENT,
        "identity": IDENTITY,
        "event": "pnc.test",
        "uid": "oisin",
        "now": "Mon 25 Apr 2016 13:29:48 BST",
    }


@pytest.mark.parametrize(
    "obj",
    [None, [], ["event"], "event", 42, True],
    ids=["null", "empty-list", "list", "string", "number", "boolean"],
)
def test_event_must_be_an_object(obj: object) -> None:
    error = rejected_event(obj)
    assert error.key is None
    assert error.message == "an event must be a JSON object"


@pytest.mark.parametrize(
    "obj",
    [
        {"uid": "oisin"},
        {"event": None, "uid": "oisin"},
        {"event": "", "uid": "oisin"},
        {"event": 7, "uid": "oisin"},
        {"event": ["a"], "uid": "oisin"},
        {"event": "a" * 257, "uid": "oisin"},
        {"event": "pnc\ntest", "uid": "oisin"},
        {"event": "pnc\x7ftest", "uid": "oisin"},
        {"event": "pnc\ud800", "uid": "oisin"},
        {"event": "pnc\\", "uid": "oisin"},
    ],
    ids=[
        "missing",
        "null",
        "empty",
        "number",
        "list",
        "257-chars",
        "newline",
        "delete-char",
        "lone-surrogate",
        "trailing-backslash",
    ],
)
def test_event_name_rules(obj: dict[str, Any]) -> None:
    assert rejected_event(obj).key == "event"


@pytest.mark.parametrize(
    "name",
    ["a" * 256, "pnc.user.login", "Grüße 👋", INJECTION, "a\\b"],
    ids=["256-chars", "dotted", "unicode", "injection", "inner-backslash"],
)
def test_event_name_is_a_tag(name: str) -> None:
    assert event({"event": name, "uid": ""}).tags["event"] == name


@pytest.mark.parametrize(
    "obj",
    [
        {"event": "e"},
        {"event": "e", "uid": None},
        {"event": "e", "uid": 7},
        {"event": "e", "uid": {"a": "b"}},
        {"event": "e", "uid": "a" * 1025},
        {"event": "e", "uid": "é" * 512 + "a"},
        {"event": "e", "uid": "a\tb"},
        {"event": "e", "uid": "\udfff"},
    ],
    ids=[
        "missing",
        "null",
        "number",
        "object",
        "1025-bytes",
        "1025-bytes-multibyte",
        "tab",
        "lone-surrogate",
    ],
)
def test_uid_rules(obj: dict[str, Any]) -> None:
    assert rejected_event(obj).key == "uid"


@pytest.mark.parametrize(
    "uid",
    ["", "a" * 1024, "é" * 512, "system-devbox"],
    ids=["empty", "1024-bytes", "1024-bytes-multibyte", "plain"],
)
def test_uid_is_a_field_never_a_tag(uid: str) -> None:
    result = event({"event": "e", "uid": uid})
    assert result.fields["uid"] == uid
    assert "uid" not in result.tags


def test_uid_also_respects_max_string_bytes() -> None:
    assert rejected_event(data(uid="abcd"), limits=Limits(max_string_bytes=3)).key == "uid"


@pytest.mark.parametrize(
    ("extra", "expected_ns"),
    [
        ({}, NOW_NS),
        ({"time": None}, NOW_NS),
        ({"time": 1_704_164_645}, 1_704_164_645_000_000_000),
        ({"time": "2024-01-02T03:04:05.123456789Z"}, 1_704_164_645_123_456_789),
    ],
    ids=["absent", "null", "epoch", "iso"],
)
def test_event_time(extra: dict[str, Any], expected_ns: int) -> None:
    result = event(data(**extra))
    assert result.time_ns == expected_ns
    assert "time" not in result.fields


def test_event_time_invalid() -> None:
    assert rejected_event(data(time="Mon 25 Apr 2016 13:29:48 BST")).key == "time"


def test_event_id_given_is_kept() -> None:
    result = event(data(event_id=EVENT_ID))
    assert result.event_id == EVENT_ID
    assert "event_id" not in result.fields


@pytest.mark.parametrize("extra", [{}, {"event_id": None}], ids=["absent", "null"])
def test_event_id_absent_is_fresh(extra: dict[str, Any]) -> None:
    first, second = event(data(**extra)), event(data(**extra))
    assert is_valid_event_id(first.event_id)
    assert first.event_id != second.event_id


@pytest.mark.parametrize(
    "event_id",
    ["", 42, INJECTION, "a" * 129, ["x"], True],
    ids=["empty", "number", "injection", "too-long", "list", "boolean"],
)
def test_event_id_invalid(event_id: object) -> None:
    assert rejected_event(data(event_id=event_id)).key == "event_id"


# --- keys -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["a", "A", "now", "app_node", "hostName2", "a" * 128, "x_"],
    ids=["a", "upper", "now", "underscore", "camel-digit", "128-chars", "trailing-underscore"],
)
def test_valid_data_keys(key: str) -> None:
    assert event(data(**{key: 1})).fields[key] == 1


@pytest.mark.parametrize(
    ("key", "reported"),
    [
        ("user-agent", "user-agent"),
        ("_private", "_private"),
        ("1st", "1st"),
        ("", ""),
        ("a" * 129, "a" * 129),
        ("a b", "a b"),
        ("a.b", "a.b"),
        ("naïve", "naïve"),
        ("a\n", "a\n"),
        (INJECTION, INJECTION),
        ("\ud800", "\\ud800"),
    ],
    ids=[
        "dash",
        "leading-underscore",
        "leading-digit",
        "empty",
        "129-chars",
        "space",
        "dot",
        "non-ascii",
        "trailing-newline",
        "injection",
        "lone-surrogate-escaped-for-json",
    ],
)
def test_invalid_data_keys(key: str, reported: str) -> None:
    error = rejected_event(data(**{key: 1}))
    assert error.key == reported
    assert "keys must match ^[A-Za-z][A-Za-z0-9_]{0,127}$" in error.message


def test_invalid_key_message() -> None:
    error = rejected_event(data(**{"user-agent": "curl"}))
    assert error.key == "user-agent"
    assert error.message == (
        "data key 'user-agent' is invalid: keys must match ^[A-Za-z][A-Za-z0-9_]{0,127}$"
    )


def test_invalid_key_with_null_value_is_still_rejected() -> None:
    assert rejected_event(data(**{"user-agent": None})).key == "user-agent"


@pytest.mark.parametrize("key", ["identity", "measurement"], ids=["identity", "measurement"])
def test_reserved_data_keys(key: str) -> None:
    error = rejected_event(data(**{key: "me"}))
    assert error.key == key
    assert "reserved" in error.message


def test_injection_string_is_stored_verbatim_as_a_value() -> None:
    result = event(data(query=INJECTION, tags={"source": INJECTION}))
    assert result.fields["query"] == INJECTION
    assert result.tags["source"] == INJECTION


def test_injection_string_is_rejected_as_a_tag_key() -> None:
    assert rejected_event(data(tags={INJECTION: "x"})).key == INJECTION


# --- values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["text", "", 0, -7, 2**63 - 1, -(2**63), 0.5, -1e300, True, False],
    ids=[
        "str",
        "empty-str",
        "zero",
        "negative",
        "int64-max",
        "int64-min",
        "float",
        "big-float",
        "true",
        "false",
    ],
)
def test_scalar_values_are_kept_with_their_type(value: object) -> None:
    stored = event(data(v=value)).fields["v"]
    assert stored == value
    assert type(stored) is type(value)


@pytest.mark.parametrize(
    "value",
    [2**63, -(2**63) - 1, float("nan"), float("inf"), float("-inf"), "\ud800", "ok\udc00"],
    ids=["int64-max+1", "int64-min-1", "nan", "inf", "minus-inf", "lone-high", "lone-low"],
)
def test_invalid_values(value: object) -> None:
    assert rejected_event(data(v=value)).key == "v"


def test_null_values_are_dropped() -> None:
    result = event(data(gone=None, nested={"gone": None, "kept": 1}))
    assert result.fields == {"uid": "oisin", "nested_kept": 1}


@pytest.mark.parametrize(
    ("value", "ok"),
    [("a" * 10, True), ("a" * 11, False), ("é" * 5, True), ("é" * 5 + "a", False)],
    ids=["exact", "one-over", "exact-multibyte", "one-over-multibyte"],
)
def test_string_value_size_limit(value: str, ok: bool) -> None:
    limits = Limits(max_string_bytes=10)
    if ok:
        assert event(data(v=value), limits=limits).fields["v"] == value
    else:
        error = rejected_event(data(v=value), limits=limits)
        assert error.key == "v"
        assert "at most 10" in error.message


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ([], "[]"),
        ([1, "two", None, True, 2.5], '[1,"two",null,true,2.5]'),
        ([[1, [2]], {"k-ey": "v"}], '[[1,[2]],{"k-ey":"v"}]'),
        (["é"], '["é"]'),
    ],
    ids=["empty", "scalars", "nested-and-objects", "unicode"],
)
def test_lists_are_stored_as_compact_json(value: list[Any], stored: str) -> None:
    assert event(data(v=value)).fields["v"] == stored


@pytest.mark.parametrize(
    "value",
    [[2**64], ["\ud800"], [object()]],
    ids=["int-beyond-64-bit", "lone-surrogate", "not-json"],
)
def test_unserialisable_lists_are_invalid(value: list[Any]) -> None:
    assert rejected_event(data(v=value)).key == "v"


def test_list_size_limit_applies_to_the_json_text() -> None:
    limits = Limits(max_string_bytes=7)
    short = {"event": "e", "uid": "u"}
    assert event({**short, "v": [1, 2, 3]}, limits=limits).fields["v"] == "[1,2,3]"
    assert rejected_event({**short, "v": [1, 2, 34]}, limits=limits).key == "v"


def test_unsupported_python_value_is_invalid() -> None:
    assert rejected_event(data(v=(1, 2))).key == "v"


# --- flattening -------------------------------------------------------------------


def test_nested_objects_are_flattened_with_underscores() -> None:
    result = event(data(a={"b": 1, "c": {"d": "x", "e": [1]}}, status={"200": 5, "4xx": 1}))
    assert result.fields == {
        "uid": "oisin",
        "a_b": 1,
        "a_c_d": "x",
        "a_c_e": "[1]",
        "status_200": 5,
        "status_4xx": 1,
    }


def test_empty_nested_object_adds_nothing() -> None:
    assert event(data(a={})).fields == {"uid": "oisin"}


def nested(depth: int) -> dict[str, Any]:
    """``{"k": {"k": ... 1}}`` with ``depth`` nested objects below the top-level key."""
    value: Any = 1
    for _ in range(depth):
        value = {"k": value}
    return {"k": value}


@pytest.mark.parametrize(
    ("max_depth", "depth", "ok"),
    [(2, 2, True), (2, 3, False), (0, 0, True), (0, 1, False), (8, 8, True), (8, 9, False)],
    ids=["2-exact", "2-over", "0-flat", "0-over", "default-exact", "default-over"],
)
def test_nesting_depth_limit(max_depth: int, depth: int, ok: bool) -> None:
    limits = Limits(max_depth=max_depth)
    payload = data(**nested(depth))
    if ok:
        assert event(payload, limits=limits).fields["_".join(["k"] * (depth + 1))] == 1
    else:
        error = rejected_event(payload, limits=limits)
        assert error.key is not None
        assert error.key.startswith("k")
        assert f"deeper than {max_depth}" in error.message


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ({"b-c": 1}, "a"),
        ({"_b": 1}, "a"),
        ({"": 1}, "a"),
        ({"b": {"c.d": 1}}, "a"),
        ({"é": 1}, "a"),
        ({"\ud800": 1}, "a"),
    ],
    ids=["dash", "leading-underscore", "empty", "deep-dot", "non-ascii", "lone-surrogate"],
)
def test_invalid_nested_keys_name_the_top_level_key(value: dict[str, Any], key: str) -> None:
    error = rejected_event(data(a=value))
    assert error.key == key
    assert "nested keys must match" in error.message


def test_invalid_nested_key_message_shows_the_dotted_path() -> None:
    error = rejected_event(data(a={"b": {"c-d": 1}}))
    assert "'a.b.c-d'" in error.message


def test_flattened_key_length_limit() -> None:
    assert event(data(a={"b" * 126: 1})).fields["a_" + "b" * 126] == 1
    error = rejected_event(data(a={"b" * 127: 1}))
    assert error.key == "a_" + "b" * 127


@pytest.mark.parametrize(
    "payload",
    [
        data(a_b=1, a={"b": 2}),
        data(a={"b": 2}, a_b=1),
        data(a={"b_c": 1}, a_b={"c": 2}),
    ],
    ids=["flat-first", "nested-first", "both-nested"],
)
def test_flattened_key_collisions(payload: dict[str, Any]) -> None:
    error = rejected_event(payload)
    assert error.key in {"a_b", "a_b_c"}
    assert "collides" in error.message


def test_flattened_key_may_not_become_reserved() -> None:
    error = rejected_point({"measurement": "m", "fields": {"event": {"id": "x"}}})
    assert error.key == "event_id"
    assert "reserved" in error.message


# --- tags ---------------------------------------------------------------------------


def test_explicit_tags() -> None:
    result = event(data(tags={"host": "a", "env": "prod", "gone": None, "blank": ""}))
    assert result.tags == {"identity": IDENTITY, "event": "pnc.test", "host": "a", "env": "prod"}
    assert "tags" not in result.fields


def test_null_tags_means_none() -> None:
    assert event(data(tags=None)).tags == {"identity": IDENTITY, "event": "pnc.test"}


@pytest.mark.parametrize(
    ("tags", "key"),
    [
        (["host"], "tags"),
        ("host=a", "tags"),
        ({"host": 1}, "host"),
        ({"host": True}, "host"),
        ({"host": ["a"]}, "host"),
        ({"host": {"a": "b"}}, "host"),
        ({"host": "a\nb"}, "host"),
        ({"host": "a\x00"}, "host"),
        ({"host": "\ud800"}, "host"),
        ({"host": "c:\\"}, "host"),
        ({"bad key": "a"}, "bad key"),
        ({"identity": "someone-else"}, "identity"),
        ({"time": "x"}, "time"),
        ({"event": "other"}, "event"),
        ({"uid": "other"}, "uid"),
    ],
    ids=[
        "list",
        "string",
        "number-value",
        "boolean-value",
        "list-value",
        "object-value",
        "newline",
        "nul",
        "lone-surrogate",
        "trailing-backslash",
        "invalid-key",
        "identity-reserved",
        "time-reserved",
        "collides-with-event",
        "collides-with-uid",
    ],
)
def test_tag_rules(tags: object, key: str) -> None:
    assert rejected_event(data(tags=tags)).key == key


def test_tag_value_message_names_the_tag() -> None:
    error = rejected_event(data(tags={"host": 1}))
    assert error.message == "tag 'host' must have a string value, got a number"


def test_tag_value_size_limit() -> None:
    limits = Limits(max_string_bytes=4)
    short = {"event": "e", "uid": "u"}
    assert event({**short, "tags": {"host": "abcd"}}, limits=limits).tags["host"] == "abcd"
    assert rejected_event({**short, "tags": {"host": "abcde"}}, limits=limits).key == "host"


def test_identity_is_exempt_from_the_string_limit_but_counts_in_totals() -> None:
    result = event({"event": "e", "uid": ""}, limits=Limits(max_string_bytes=1))
    assert result.tags["identity"] == IDENTITY
    # identity=statsbob: 16; event=e: 6; uid: 3. Total 25.
    assert rejected_event({"event": "e", "uid": ""}, limits=Limits(max_event_bytes=24)).key is None


def test_data_key_colliding_with_a_tag() -> None:
    error = rejected_event(data(host="x", tags={"host": "y"}))
    assert error.key == "host"
    assert "collides" in error.message


def test_identity_is_always_the_authenticated_sender() -> None:
    assert event(data()).tags["identity"] == IDENTITY
    assert rejected_event(data(identity="mallory")).key == "identity"


# --- configured tag keys --------------------------------------------------------


def test_configured_tag_keys_turn_string_data_into_tags() -> None:
    result = event(
        data(app_node="devbox", count=3, blank="", node={"zone": "eu"}),
        tag_keys=frozenset({"app_node", "count", "blank", "node_zone"}),
    )
    assert result.tags == {
        "identity": IDENTITY,
        "event": "pnc.test",
        "app_node": "devbox",
        "node_zone": "eu",
    }
    assert result.fields == {"uid": "oisin", "count": 3}


def test_configured_tag_key_value_must_be_tag_safe() -> None:
    error = rejected_event(data(app_node="dev\nbox"), tag_keys=frozenset({"app_node"}))
    assert error.key == "app_node"
    assert "control characters" in error.message


def test_configured_tag_key_colliding_with_an_explicit_tag() -> None:
    error = rejected_event(
        data(app_node="a", tags={"app_node": "b"}), tag_keys=frozenset({"app_node"})
    )
    assert error.key == "app_node"


# --- totals -----------------------------------------------------------------------


def test_max_keys_counts_every_tag_and_field() -> None:
    # identity, event and uid, plus three data keys: six keys.
    payload = data(a=1, b=2, tags={"c": "x"})
    assert len(event(payload, limits=Limits(max_keys=6)).fields) == 3
    error = rejected_event(payload, limits=Limits(max_keys=5))
    assert error.key is None
    assert "at most 5" in error.message


def test_max_keys_counts_flattened_keys() -> None:
    payload = data(a={"b": 1, "c": 2})
    assert event(payload, limits=Limits(max_keys=5)).fields["a_c"] == 2
    assert rejected_event(payload, limits=Limits(max_keys=4)).key is None


def test_max_event_bytes_counts_keys_and_values() -> None:
    # identity=statsbob: 8 + 8; event=pnc.test: 5 + 8; uid=oisin: 3 + 5;
    # s="abé": 1 + 4; n=1: 1 + 8; flag=True: 4 + 8. Total 63.
    payload = data(s="abé", n=1, flag=True)
    assert event(payload, limits=Limits(max_event_bytes=63)).fields["s"] == "abé"
    error = rejected_event(payload, limits=Limits(max_event_bytes=62))
    assert error.key is None
    assert "at most 62" in error.message


# --- the point form -------------------------------------------------------------


def test_minimal_point() -> None:
    result = point({"measurement": "cpu", "fields": {"load": 0.5}})
    assert result.measurement == "cpu"
    assert result.time_ns == NOW_NS
    assert is_valid_event_id(result.event_id)
    assert result.tags == {"identity": IDENTITY}
    assert result.fields == {"load": 0.5}


def test_full_point() -> None:
    result = point(
        {
            "measurement": "cpu.load-1",
            "tags": {"host": "a", "empty": ""},
            "fields": {"load": 0.5, "cores": {"n": 2}, "gone": None, "event": "x", "uid": "u"},
            "time": "2016-04-25T12:29:48.844949259Z",
            "event_id": EVENT_ID,
        }
    )
    assert result == Event(
        event_id=EVENT_ID,
        measurement="cpu.load-1",
        time_ns=NOW_NS,
        tags={"identity": IDENTITY, "host": "a"},
        fields={"load": 0.5, "cores_n": 2, "event": "x", "uid": "u"},
    )


@pytest.mark.parametrize(
    "measurement",
    [None, "", "1cpu", "cpu load", "cpu,host", "a" * 129, 7, "_cpu", "cpu\n"],
    ids=[
        "null",
        "empty",
        "leading-digit",
        "space",
        "comma",
        "129-chars",
        "number",
        "leading-underscore",
        "newline",
    ],
)
def test_point_measurement_rules(measurement: object) -> None:
    error = rejected_point({"measurement": measurement, "fields": {"v": 1}})
    assert error.key == "measurement"


def test_point_measurement_missing() -> None:
    assert rejected_point({"fields": {"v": 1}}).key == "measurement"


@pytest.mark.parametrize(
    "measurement", ["a" * 128, "cpu", "A.b-c_d"], ids=["128", "plain", "mixed"]
)
def test_point_measurement_valid(measurement: str) -> None:
    assert point({"measurement": measurement, "fields": {"v": 1}}).measurement == measurement


@pytest.mark.parametrize(
    "fields",
    [None, [], "load=1", {}, {"a": None}, {"a": {}}, {"a": {"b": None}}],
    ids=["missing", "list", "string", "empty", "all-null", "empty-nested", "null-nested"],
)
def test_point_fields_must_be_a_non_empty_object(fields: object) -> None:
    obj: dict[str, Any] = {"measurement": "cpu"}
    if fields is not None:
        obj["fields"] = fields
    assert rejected_point(obj).key == "fields"


@pytest.mark.parametrize(
    "fields",
    [{"user-agent": 1}, {"time": 1}, {"identity": "x"}, {"v": float("nan")}, {"v": 2**63}],
    ids=["invalid-key", "reserved-time", "reserved-identity", "nan", "int-overflow"],
)
def test_point_fields_follow_the_data_rules(fields: dict[str, Any]) -> None:
    error = rejected_point({"measurement": "cpu", "fields": fields})
    assert error.key == next(iter(fields))
    assert error.message.startswith(("field key", "the value of field key"))


def test_point_unknown_key() -> None:
    error = rejected_point({"measurement": "cpu", "fields": {"v": 1}, "event": "x"})
    assert error.key == "event"
    assert "unknown key" in error.message


def test_point_tag_and_field_collide() -> None:
    error = rejected_point({"measurement": "cpu", "tags": {"v": "a"}, "fields": {"v": 1}})
    assert error.key == "v"


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"time": True}, "time"),
        ({"event_id": INJECTION}, "event_id"),
        ({"tags": {"host": 1}}, "host"),
        ({"tags": {"identity": "x"}}, "identity"),
    ],
    ids=["time", "event-id", "tag-value", "tag-identity"],
)
def test_point_shares_the_event_rules(extra: dict[str, Any], key: str) -> None:
    assert rejected_point({"measurement": "cpu", "fields": {"v": 1}, **extra}).key == key


def test_point_totals() -> None:
    payload = {"measurement": "cpu", "tags": {"h": "a"}, "fields": {"v": 1}}
    # identity=statsbob: 16; h=a: 2; v=1: 9. Total 27, three keys.
    assert point(payload, limits=Limits(max_event_bytes=27, max_keys=3)).fields == {"v": 1}
    assert rejected_point(payload, limits=Limits(max_event_bytes=26)).key is None
    assert rejected_point(payload, limits=Limits(max_keys=2)).key is None


@pytest.mark.parametrize(
    "obj", [None, [{"measurement": "cpu"}], "cpu"], ids=["null", "list", "string"]
)
def test_point_must_be_an_object(obj: object) -> None:
    error = rejected_point(obj)
    assert error.key is None
    assert error.message == "a point must be a JSON object"


# --- dispatch ---------------------------------------------------------------------


def item(obj: object) -> Event:
    return parse_item(
        obj,
        identity=IDENTITY,
        measurement=MEASUREMENT,
        now_ns=NOW_NS,
        limits=Limits(),
        tag_keys=frozenset({"node"}),
    )


def test_item_with_measurement_and_no_event_is_a_point() -> None:
    result = item({"measurement": "cpu", "fields": {"v": 1}})
    assert result.measurement == "cpu"
    assert result.fields == {"v": 1}


def test_item_with_event_is_an_event() -> None:
    result = item(data(node="devbox"))
    assert result.measurement == MEASUREMENT
    assert result.tags["node"] == "devbox"  # tag_keys are passed through


def test_item_with_event_and_measurement_is_an_event_with_a_reserved_key() -> None:
    with pytest.raises(InvalidEvent) as info:
        item(data(measurement="cpu"))
    assert info.value.key == "measurement"


@pytest.mark.parametrize(
    ("obj", "key"),
    [({"fields": {"v": 1}}, "event"), ([], None), (None, None)],
    ids=["neither", "list", "null"],
)
def test_item_without_measurement_is_treated_as_an_event(obj: object, key: str | None) -> None:
    with pytest.raises(InvalidEvent) as info:
        item(obj)
    assert info.value.key == key
