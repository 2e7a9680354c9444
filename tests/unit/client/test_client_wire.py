"""The wire format: validation and serialisation on the caller's thread."""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import json
import re
import time
import uuid

import pytest

from stats_client import InvalidEventError
from stats_client._wire import (
    EventEncoder,
    WireItem,
    check_key,
    encode_batch,
    format_time_ns,
    new_event_id,
)

FIXED_NS = 1_795_384_765_123_456_789  # 2026-11-22T21:59:25.123456789Z
NAIVE = dt.datetime(2020, 1, 1)  # noqa: DTZ001  # naive on purpose: points must refuse it


def make_encoder(tags=None, max_event_bytes=65_536, clock=None):
    counter = itertools.count(1)
    return EventEncoder(
        tags=tags or {},
        clock_ns=clock or (lambda: FIXED_NS),
        id_factory=lambda: f"entry_{next(counter):032x}",
        max_event_bytes=max_event_bytes,
    )


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (FIXED_NS, "2026-11-22T21:59:25.123456789Z"),
        (0, "1970-01-01T00:00:00.000000000Z"),
        (1_000_000_001, "1970-01-01T00:00:01.000000001Z"),
        (951_782_400_000_000_000, "2000-02-29T00:00:00.000000000Z"),
    ],
    ids=["fixed", "epoch", "one-ns", "leap-day"],
)
def test_format_time_ns(ns, text):
    assert format_time_ns(ns) == text


def test_stamped_time_matches_format_across_seconds():
    times = iter([FIXED_NS, FIXED_NS + 5, FIXED_NS + 1_000_000_000])
    encoder = make_encoder(clock=lambda: next(times))
    stamped = [json.loads(encoder.event({"event": "e", "uid": ""}).body)["time"] for _ in range(3)]
    assert stamped == [
        "2026-11-22T21:59:25.123456789Z",
        "2026-11-22T21:59:25.123456794Z",
        "2026-11-22T21:59:26.123456789Z",
    ]


def test_new_event_id_shape_and_uniqueness():
    ids = {new_event_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"entry_[0-9a-f]{32}", event_id) for event_id in ids)


def test_new_event_id_is_a_version_7_uuid_that_sorts_by_time():
    earlier = new_event_id()
    time.sleep(0.002)
    later = new_event_id()
    assert later > earlier
    parsed = uuid.UUID(later.removeprefix("entry_"))
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert abs((parsed.int >> 80) - time.time_ns() // 1_000_000) < 5_000


def test_event_is_compact_json_in_a_fixed_key_order():
    item = make_encoder(tags={"env": "prod"}).event(
        {"event": "pnc.user.login", "uid": "oisin", "plan": "pro", "n": 3}
    )
    assert item.event_id == "entry_00000000000000000000000000000001"
    assert item.body == (
        b'{"event":"pnc.user.login","uid":"oisin",'
        b'"event_id":"entry_00000000000000000000000000000001",'
        b'"time":"2026-11-22T21:59:25.123456789Z","tags":{"env":"prod"},"plan":"pro","n":3}'
    )


def test_tags_are_left_out_when_empty():
    body = json.loads(make_encoder().event({"event": "e", "uid": "u"}).body)
    assert "tags" not in body


def test_call_tags_merge_over_init_tags():
    encoder = make_encoder(tags={"env": "prod", "region": "eu"})
    body = json.loads(encoder.event({"event": "e", "uid": "u", "tags": {"env": "dev"}}).body)
    assert body["tags"] == {"env": "dev", "region": "eu"}


def test_later_mutation_of_the_dict_changes_nothing():
    data = {"event": "e", "uid": "u", "nested": {"a": [1, 2]}}
    item = make_encoder().event(data)
    data["nested"]["a"].append(3)
    data["uid"] = "changed"
    body = json.loads(item.body)
    assert body["nested"] == {"a": [1, 2]}
    assert body["uid"] == "u"


def test_non_ascii_text_is_utf8_on_the_wire():
    item = make_encoder().event({"event": "e", "uid": "Oisín", "city": "Zürich"})
    assert "Oisín".encode() in item.body
    assert json.loads(item.body)["city"] == "Zürich"


@pytest.mark.parametrize(
    "data",
    [
        {"event": "e", "uid": ""},
        {"event": "e", "uid": "u", "value": None, "ok": True, "ratio": 0.5, "n": -3},
        {"event": "e", "uid": "u", "a": {"b": {"c": 1}}, "l": [1, "x", {"k": None}]},
        {"event": "e", "uid": "u", "nested": {"1st": 1, "x_y": 2}},
        {"event": "e" * 256, "uid": "u" * 1024},
    ],
    ids=["minimal", "scalars", "nested", "nested-digit-key", "longest-names"],
)
def test_valid_events_pass(data):
    body = json.loads(make_encoder().event(data).body)
    for key, value in data.items():
        assert body[key] == value


def nest(depth):
    value = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"uid": "u"}, "event"),
        ({"event": "", "uid": "u"}, "event"),
        ({"event": 3, "uid": "u"}, "event"),
        ({"event": "e" * 257, "uid": "u"}, "event"),
        ({"event": "e"}, "uid"),
        ({"event": "e", "uid": None}, "uid"),
        ({"event": "e", "uid": "u" * 1025}, "uid"),
        ({"event": "e", "uid": "é" * 513}, "uid"),
        ({"event": "e", "uid": "line\nbreak"}, "uid"),
        ({"event": "e", "uid": "u", "user-agent": "x"}, "user-agent"),
        ({"event": "e", "uid": "u", "_private": 1}, "_private"),
        ({"event": "e", "uid": "u", "1st": 1}, "1st"),
        ({"event": "e", "uid": "u", "k" * 129: 1}, "k" * 129),
        ({"event": "e", "uid": "u", "time": "now"}, "time"),
        ({"event": "e", "uid": "u", "event_id": "mine"}, "event_id"),
        ({"event": "e", "uid": "u", "measurement": "m"}, "measurement"),
        ({"event": "e", "uid": "u", "identity": "me"}, "identity"),
        ({"event": "e", "uid": "u", 7: "int key"}, "7"),
        ({"event": "e", "uid": "u", "a": {"bad-key": 1}}, "a"),
        ({"event": "e", "uid": "u", "a": {"_x": 1}}, "a"),
        ({"event": "e", "uid": "u", "deep": nest(9)}, None),
        ({"event": "e", "uid": "u", "tags": {"env": 1}}, "env"),
        ({"event": "e", "uid": "u", "tags": "env"}, "tags"),
        ({"event": "e", "uid": "u", "tags": {"env": "a\tb"}}, "env"),
    ],
    ids=[
        "event-missing",
        "event-empty",
        "event-type",
        "event-too-long",
        "uid-missing",
        "uid-none",
        "uid-too-long",
        "uid-too-many-bytes",
        "uid-control-char",
        "key-dash",
        "key-underscore-first",
        "key-digit-first",
        "key-too-long",
        "reserved-time",
        "reserved-event-id",
        "reserved-measurement",
        "reserved-identity",
        "key-not-str",
        "nested-key-dash",
        "nested-key-underscore",
        "too-deep",
        "tag-value-type",
        "tags-type",
        "tag-control-char",
    ],
)
def test_invalid_events_raise_naming_the_key(data, key):
    with pytest.raises(InvalidEventError) as raised:
        make_encoder().event(data)
    if key is not None:
        assert raised.value.key == key


def test_eight_levels_of_nesting_are_allowed():
    make_encoder().event({"event": "e", "uid": "u", "deep": nest(8)})


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), object(), {1, 2}, dt.date(2020, 1, 1), b"bytes", "\ud800"],
    ids=["nan", "inf", "object", "set", "date", "bytes", "lone-surrogate"],
)
def test_values_that_are_not_json_data_are_invalid(value):
    with pytest.raises(InvalidEventError, match="not valid JSON data"):
        make_encoder().event({"event": "e", "uid": "u", "value": value})


def test_cyclic_data_is_invalid():
    cyclic: list[object] = []
    cyclic.append(cyclic)
    with pytest.raises(InvalidEventError):
        make_encoder().event({"event": "e", "uid": "u", "loop": cyclic})


def test_oversized_event_is_invalid():
    encoder = make_encoder(max_event_bytes=200)
    encoder.event({"event": "e", "uid": "u", "text": "x" * 50})
    with pytest.raises(InvalidEventError, match="over the limit of 200"):
        encoder.event({"event": "e", "uid": "u", "text": "x" * 200})


def test_non_mapping_event_is_invalid():
    with pytest.raises(InvalidEventError, match="mapping"):
        make_encoder().event(["event", "e"])  # type: ignore[arg-type]


def test_check_key_accepts_then_caches_valid_keys():
    assert check_key("plan") == "plan"
    assert check_key("plan") == "plan"
    with pytest.raises(InvalidEventError):
        check_key("plan-b")


# -- points -----------------------------------------------------------------------------


def test_point_form_and_key_order():
    item = make_encoder(tags={"env": "prod"}).point(
        {"measurement": "cpu", "tags": {"host": "a"}, "fields": {"load": 0.5}}
    )
    assert item.body == (
        b'{"measurement":"cpu","tags":{"env":"prod","host":"a"},"fields":{"load":0.5},'
        b'"time":"2026-11-22T21:59:25.123456789Z",'
        b'"event_id":"entry_00000000000000000000000000000001"}'
    )


@pytest.mark.parametrize(
    ("given", "text"),
    [
        (FIXED_NS, "2026-11-22T21:59:25.123456789Z"),
        (
            dt.datetime(2026, 11, 22, 22, 59, 25, 5, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            "2026-11-22T21:59:25.000005000Z",
        ),
        (None, "2026-11-22T21:59:25.123456789Z"),
    ],
    ids=["int-ns", "aware-datetime", "default-now"],
)
def test_point_time(given, text):
    point = {"measurement": "cpu", "fields": {"load": 1}}
    if given is not None:
        point["time"] = given
    assert json.loads(make_encoder().point(point).body)["time"] == text


@pytest.mark.parametrize(
    ("point", "key"),
    [
        ({"fields": {"x": 1}}, "measurement"),
        ({"measurement": "9cpu", "fields": {"x": 1}}, "measurement"),
        ({"measurement": "cpu"}, "fields"),
        ({"measurement": "cpu", "fields": {}}, "fields"),
        ({"measurement": "cpu", "fields": {"bad key": 1}}, "bad key"),
        ({"measurement": "cpu", "fields": {"x": 1}, "extra": 1}, "extra"),
        ({"measurement": "cpu", "fields": {"x": 1}, "time": NAIVE}, "time"),
        ({"measurement": "cpu", "fields": {"x": 1}, "time": True}, "time"),
        ({"measurement": "cpu", "fields": {"x": 1}, "time": -1}, "time"),
        ({"measurement": "cpu", "fields": {"x": 1}, "tags": {"t": 1}}, "t"),
        ({"measurement": "cpu", "fields": {"event": {"id": 1}}}, "event_id"),
    ],
    ids=[
        "no-measurement",
        "bad-measurement",
        "no-fields",
        "empty-fields",
        "bad-field-key",
        "unknown-key",
        "naive-datetime",
        "bool-time",
        "negative-time",
        "bad-tag",
        "flattens-to-reserved",
    ],
)
def test_invalid_points(point, key):
    with pytest.raises(InvalidEventError) as raised:
        make_encoder().point(point)
    assert raised.value.key == key


# -- batches ----------------------------------------------------------------------------


def items(count, size=10):
    return [WireItem(f"id{i}", json.dumps({"v": "x" * size}).encode()) for i in range(count)]


def test_small_batch_is_a_plain_json_array():
    body, gzipped = encode_batch(items(2), gzip_min_bytes=1024, gzip_level=6)
    assert gzipped is False
    assert json.loads(body) == [{"v": "x" * 10}, {"v": "x" * 10}]


def test_large_batch_is_gzipped_deterministically():
    batch = items(50, size=100)
    body, gzipped = encode_batch(batch, gzip_min_bytes=1024, gzip_level=6)
    again, _ = encode_batch(batch, gzip_min_bytes=1024, gzip_level=6)
    assert gzipped is True
    assert body == again
    assert len(json.loads(gzip.decompress(body))) == 50


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [(None, False), (0, True), (10_000, False)],
    ids=["never", "always", "above-size"],
)
def test_gzip_threshold(threshold, expected):
    _, gzipped = encode_batch(items(3), gzip_min_bytes=threshold, gzip_level=1)
    assert gzipped is expected


OUT_OF_INT64 = [2**63, 2**64, 123456789012345678901234567890, -(2**63) - 1]


@pytest.mark.parametrize("value", OUT_OF_INT64, ids=["2**63", "2**64", "30-digits", "-2**63-1"])
@pytest.mark.parametrize(
    ("build", "key"),
    [
        (lambda v: ("event", {"event": "e", "uid": "u", "big": v}), "big"),
        (lambda v: ("event", {"event": "e", "uid": "u", "a": {"b": v}}), "a_b"),
        (lambda v: ("point", {"measurement": "m", "fields": {"big": v}}), "big"),
        (lambda v: ("point", {"measurement": "m", "fields": {"a": {"b": v}}}), "a_b"),
    ],
    ids=["event", "nested", "point", "point-nested"],
)
def test_integers_outside_int64_are_invalid_naming_the_key(value, build, key):
    method, data = build(value)
    with pytest.raises(InvalidEventError, match="signed 64-bit") as raised:
        getattr(make_encoder(), method)(data)
    assert raised.value.key == key


@pytest.mark.parametrize(
    "value", [2**63 - 1, -(2**63), 0, True], ids=["max", "min", "zero", "bool"]
)
def test_integers_inside_int64_pass(value):
    item = make_encoder().event({"event": "e", "uid": "u", "n": value, "a": {"b": value}})
    assert json.loads(item.body)["n"] == value


@pytest.mark.parametrize(
    "when",
    [2**63 - 1, 2**63, 2**64, 10**30, dt.datetime(2300, 1, 1, tzinfo=dt.UTC)],
    ids=["int64-max", "2**63", "2**64", "10**30", "year-2300"],
)
def test_point_times_past_what_the_service_stores_are_invalid(when):
    # The service stores times in [0, 2**63 - 1) ns, i.e. up to the year 2262.
    with pytest.raises(InvalidEventError, match="time") as raised:
        make_encoder().point({"measurement": "m", "fields": {"x": 1}, "time": when})
    assert raised.value.key == "time"


def test_the_last_storable_point_time_passes():
    item = make_encoder().point({"measurement": "m", "fields": {"x": 1}, "time": 2**63 - 2})
    assert json.loads(item.body)["time"] == "2262-04-11T23:47:16.854775806Z"
