"""Parsed points as events: the model's rules, the id field, unsigned integers, times."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stats_service.errors import InvalidEvent
from stats_service.events import lineprotocol_events
from stats_service.events.lineprotocol_events import event_from_point
from stats_service.events.lineprotocol_parse import ParsedPoint, UnsignedInt, parse_line
from stats_service.events.model import Limits

LIMITS = Limits()
NOW = 1_700_000_000_000_000_000


def _event(line: bytes, identity: str = "app"):
    return event_from_point(parse_line(line), identity=identity, now_ns=NOW, limits=LIMITS)


def test_a_plain_point():
    event = _event(b'cpu,host=a v=1.5,n=2i,ok=t,s="x" 5')
    assert event.measurement == "cpu"
    assert event.tags == {"identity": "app", "host": "a"}
    assert event.fields == {"v": 1.5, "n": 2, "ok": True, "s": "x"}
    assert event.time_ns == 5
    assert event.event_id.startswith("entry_")


def test_no_time_means_now():
    assert _event(b"m v=1").time_ns == NOW


def test_event_id_field_becomes_the_id():
    event = _event(b'm v=1,event_id="abc-1"')
    assert event.event_id == "abc-1"
    assert "event_id" not in event.fields


def test_unsigned_integers_are_stored_as_integers():
    event = _event(b"m v=9223372036854775807u")
    assert event.fields == {"v": 2**63 - 1}
    assert type(event.fields["v"]) is int


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"m v=9223372036854775808u", "unsigned field 'v'"),
        (b"m v=1 -1", "time is out of range"),
        (b"m,identity=x v=1", "reserved"),
        (b"m time=1", "reserved"),
        (b"bad-measurement! v=1", "measurement"),
        (b"m,a-b=1 v=1", "tag key"),
        (b"m _v=1", "field key"),
        (b"m,a=x a=1", "collides"),
        (b'm v=1,event_id="bad id"', "event_id"),
        (b"m event_id=1i", "event_id"),
        (b'm event_id="only-the-id"', "at least one"),
    ],
    ids=[
        "unsigned",
        "before-1970",
        "identity-tag",
        "time-field",
        "measurement",
        "tag-key",
        "field-key",
        "collision",
        "bad-id",
        "id-not-string",
        "only-id",
    ],
)
def test_model_refusals(line, message):
    with pytest.raises(InvalidEvent, match=message):
        _event(line)


names = st.text(st.sampled_from("abAB_1-é"), min_size=1, max_size=5)
values = st.one_of(
    st.text(st.sampled_from("ab\x01é\\ "), max_size=4),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.integers(min_value=0, max_value=2**64 - 1).map(UnsignedInt),
    st.sampled_from(["entry_1", "bad id", "ok-id"]),
)


@settings(max_examples=400, deadline=None)
@given(
    measurement=names,
    tags=st.dictionaries(names, st.text(st.sampled_from("ab\x01é\\"), min_size=1, max_size=3)),
    fields=st.dictionaries(st.one_of(names, st.just("event_id")), values, min_size=1, max_size=4),
    time_ns=st.one_of(st.none(), st.integers(min_value=-5, max_value=2**63)),
    identity=st.sampled_from(["app", "é"]),
)
def test_fast_path_builds_what_the_model_path_builds(measurement, tags, fields, time_ns, identity):
    point = ParsedPoint(measurement, tags, fields, time_ns)
    limits = Limits(max_keys=4, max_event_bytes=60, max_string_bytes=8)
    fast = lineprotocol_events._plain_event(point, identity, NOW, limits)
    try:
        slow = lineprotocol_events._model_event(point, identity=identity, now_ns=NOW, limits=limits)
    except InvalidEvent:
        assert fast is None
        return
    if fast is not None:
        if "event_id" not in fields:
            fast = type(fast)(slow.event_id, fast.measurement, fast.time_ns, fast.tags, fast.fields)
        assert fast == slow
        assert list(fast.tags) == list(slow.tags)


def test_a_valid_measurement_does_not_make_a_valid_key():
    assert _event(b"page.view v=1").measurement == "page.view"
    with pytest.raises(InvalidEvent, match="field key"):
        _event(b"m page.view=1")
    with pytest.raises(InvalidEvent, match="tag key"):
        _event(b"m,page.view=x v=1")


def test_series_are_checked_per_identity_and_limit():
    assert _event(b"m,host=a v=1", identity="app").tags["identity"] == "app"
    assert _event(b"m,host=a v=1", identity="other").tags == {"identity": "other", "host": "a"}
    small = Limits(max_string_bytes=2)
    with pytest.raises(InvalidEvent):
        event_from_point(parse_line(b"m,host=abc v=1"), identity="app", now_ns=NOW, limits=small)
