"""Line protocol encoding and InfluxQL quoting (the round trip is proved in integration)."""

from __future__ import annotations

import pytest

from stats_service.errors import InvalidEvent
from stats_service.events.model import Event
from stats_service.storage.influx.lineprotocol import (
    encode_event,
    encode_events,
    encode_field_value,
    encode_lines,
    escape_identifier,
    quote_string_literal,
)


def make_event(**overrides):
    values = {
        "event_id": "e1",
        "measurement": "analytics",
        "time_ns": 1_763_850_000_123_456_789,
        "tags": {},
        "fields": {},
    }
    values.update(overrides)
    return Event(**values)


@pytest.mark.parametrize(
    ("measurement", "expected"),
    [
        ("analytics", "analytics"),
        ("page views", "page\\ views"),
        ("a,b", "a\\,b"),
        ("a=b", "a=b"),
        ('say "hi"', 'say\\ "hi"'),
        ("back\\slash", "back\\slash"),
        ("ünï😀", "ünï😀"),
    ],
    ids=["plain", "space", "comma", "equals-kept", "quotes-kept", "inner-backslash", "unicode"],
)
def test_measurement_escaping(measurement, expected):
    line = encode_event(make_event(measurement=measurement))
    assert line.startswith(expected + " ")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("event", "page_view", ",event=page_view"),
        ("my key", "a b", ",my\\ key=a\\ b"),
        ("k,1", "v,1", ",k\\,1=v\\,1"),
        ("k=1", "v=1", ",k\\=1=v\\=1"),
        ("k", 'say "hi"', ',k=say\\ "hi"'),
        ("k", "C:\\path", ",k=C:\\path"),
        ("k", "a\\,b", ",k=a\\\\,b"),
        ("ключ", "значение", ",ключ=значение"),
    ],
    ids=["plain", "space", "comma", "equals", "quotes", "backslash", "backslash-comma", "unicode"],
)
def test_tag_escaping(key, value, expected):
    line = encode_event(make_event(tags={key: value}))
    head = line[: line.index(" event_id=")]
    assert head == "analytics" + expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("trailing\\", '"trailing\\\\"'),
        ("line\nbreak\r\n", '"line\nbreak\r\n"'),
        ("tab\tand\x00nul", '"tab\tand\x00nul"'),
        ("", '""'),
        ("😀 é", '"😀 é"'),
        ("a,b=c d", '"a,b=c d"'),
    ],
    ids=[
        "plain",
        "quotes",
        "backslash",
        "trailing-backslash",
        "newlines-verbatim",
        "controls-verbatim",
        "empty",
        "unicode",
        "separators-verbatim",
    ],
)
def test_string_field_escaping(value, expected):
    assert encode_field_value(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0i"),
        (-42, "-42i"),
        (2**63 - 1, "9223372036854775807i"),
        (-(2**63), "-9223372036854775808i"),
        (1.0, "1.0"),
        (-0.5, "-0.5"),
        (1e20, "1e+20"),
        (1e-7, "1e-07"),
        (0.1 + 0.2, "0.30000000000000004"),
        (True, "true"),
        (False, "false"),
    ],
    ids=[
        "zero",
        "negative-int",
        "int64-max",
        "int64-min",
        "whole-float-keeps-dot",
        "negative-float",
        "big-float-exponent",
        "small-float-exponent",
        "float-full-precision",
        "true",
        "false",
    ],
)
def test_scalar_field_values(value, expected):
    assert encode_field_value(value) == expected


def test_every_field_type_in_one_line_with_event_id_and_time():
    event = make_event(
        event_id='id "1"',
        tags={"event": "click", "identity": "alice"},
        fields={"uid": "u1", "n": 3, "ratio": 2.0, "ok": True},
    )
    assert encode_event(event) == (
        "analytics,event=click,identity=alice "
        'uid="u1",n=3i,ratio=2.0,ok=true,event_id="id \\"1\\"" 1763850000123456789'
    )


def test_tags_are_sorted_by_key_and_empty_values_dropped():
    event = make_event(tags={"zeta": "z", "alpha": "a", "empty": "", "mid": "m"})
    assert encode_event(event).startswith("analytics,alpha=a,mid=m,zeta=z ")


def test_event_id_is_the_only_field_when_there_are_none():
    assert encode_event(make_event(time_ns=0)) == 'analytics event_id="e1" 0'


def test_measurement_override():
    assert encode_event(make_event(), measurement="other").startswith("other event_id=")


def test_field_keys_are_escaped():
    line = encode_event(make_event(fields={"a b,c=d": 1}))
    assert line == 'analytics a\\ b\\,c\\=d=1i,event_id="e1" 1763850000123456789'


def test_encode_events_joins_lines_as_utf8():
    events = [make_event(event_id="a", time_ns=1), make_event(event_id="é", time_ns=2)]
    assert encode_events(events) == ('analytics event_id="a" 1\nanalytics event_id="é" 2'.encode())


def test_encode_lines_names_the_event_that_cannot_be_written():
    events = [make_event(event_id="ok"), make_event(event_id="bad", fields={"x": float("nan")})]
    with pytest.raises(InvalidEvent) as caught:
        encode_lines(events)
    assert caught.value.key == "x"
    assert caught.value.message.startswith("event 'bad': ")
    assert encode_lines(events[:1]) == [encode_event(events[0])]


def test_encode_events_of_nothing_is_empty():
    assert encode_events([]) == b""


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"measurement": "#comment"}, "#comment"),
        ({"measurement": "ends\\"}, "ends\\"),
        ({"measurement": 'a\\"b'}, 'a\\"b'),
        ({"measurement": ""}, ""),
        ({"measurement": "new\nline"}, "new\nline"),
        ({"tags": {"k": "ends\\"}}, "ends\\"),
        ({"tags": {"k": "new\nline"}}, "new\nline"),
        ({"tags": {"ends\\": "v"}}, "ends\\"),
        ({"tags": {"": "v"}}, ""),
        ({"tags": {"time": "v"}}, "time"),
        ({"fields": {"time": 1}}, "time"),
        ({"fields": {"ends\\": 1}}, "ends\\"),
        ({"fields": {'a\\"b': 1}}, 'a\\"b'),
        ({"fields": {"event_id": "x"}}, "event_id"),
        ({"fields": {"big": 2**63}}, "big"),
        ({"fields": {"nan": float("nan")}}, "nan"),
        ({"fields": {"inf": float("-inf")}}, "inf"),
        ({"fields": {"obj": None}}, "obj"),
        ({"time_ns": 2**63 - 1}, "time"),
        ({"time_ns": -(2**63) + 1}, "time"),
    ],
    ids=[
        "measurement-comment",
        "measurement-trailing-backslash",
        "measurement-backslash-quote",
        "measurement-empty",
        "measurement-newline",
        "tag-value-trailing-backslash",
        "tag-value-newline",
        "tag-key-trailing-backslash",
        "tag-key-empty",
        "tag-key-time",
        "field-key-time",
        "field-key-trailing-backslash",
        "field-key-backslash-quote",
        "field-event-id-reserved",
        "int-over-int64",
        "float-nan",
        "float-inf",
        "unsupported-type",
        "time-too-late",
        "time-too-early",
    ],
)
def test_unwritable_events_are_refused_naming_the_key(overrides, key):
    with pytest.raises(InvalidEvent) as caught:
        encode_event(make_event(**overrides))
    assert caught.value.key == key


def test_extreme_valid_times_are_written():
    assert encode_event(make_event(time_ns=2**63 - 2)).endswith(" 9223372036854775806")
    assert encode_event(make_event(time_ns=-(2**63) + 2)).endswith(" -9223372036854775806")


def test_refusal_is_repeated_for_a_cached_name():
    for _ in range(2):
        with pytest.raises(InvalidEvent):
            encode_event(make_event(tags={"k": "bad\\"}))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("analytics", '"analytics"'),
        ('a"b', '"a\\"b"'),
        ("a\\b", '"a\\\\b"'),
        ("it's", '"it\'s"'),
        ('x"; DROP DATABASE "stats', '"x\\"; DROP DATABASE \\"stats"'),
    ],
    ids=["plain", "double-quote", "backslash", "single-quote-kept", "injection"],
)
def test_escape_identifier(name, expected):
    assert escape_identifier(name) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "'plain'"),
        ("it's", "'it\\'s'"),
        ("a\\b", "'a\\\\b'"),
        ('say "hi"', "'say \"hi\"'"),
        ("x'; drop database stats; select '", "'x\\'; drop database stats; select \\''"),
        ("trailing\\", "'trailing\\\\'"),
    ],
    ids=["plain", "single-quote", "backslash", "double-quote-kept", "injection", "trailing-bs"],
)
def test_quote_string_literal(value, expected):
    assert quote_string_literal(value) == expected
