"""A plain parsed point written straight out as its stored line is byte for byte what the
event path stores: ``event_from_point``, then the encoder (``encoded_event``)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stats_service.errors import InvalidEvent
from stats_service.events import lineprotocol_events
from stats_service.events.lineprotocol_events import event_from_point
from stats_service.events.lineprotocol_parse import parse_line, parse_lines
from stats_service.events.model import Limits
from stats_service.storage.influx import point_lines
from stats_service.storage.influx.lineprotocol import encode_events
from stats_service.storage.influx.point_lines import point_line
from stats_service.storage.influx.stored import encoded_event, line_event

BOUNDED = settings(max_examples=400, deadline=None)
NOW = 1_700_000_000_000_000_000
FIXED_ID = "entry_0123456789abcdef0123456789abcdef"

# Pieces of lines: plain ones, and others (escapes, quotes, reserved and invalid
# keys, unsigned integers, over-long values) that mixed in send a line to the
# event path or make the model refuse it.
PLAIN = {
    "name": ["cpu", "analytics", "m.x-1"],
    "key": ["host", "region", "uid", "event", "n", "x", "b_2"],
    "tag": ["a", "web-1", "Z"],
    "field": [
        *["1i", "-9223372036854775808i", "9223372036854775807i", "1", "1.5", "-0.0"],
        *["1e300", "t", "FALSE", '"text"', '"entry_1"', '""'],
    ],
    "id": ['"entry_abc"', '"e-2.x:y"'],
    "stamp": [None, "1700000000000000001", "0"],
}
OTHER = {
    "name": ["9bad", "a\\ b", "a\\,b", "time", "é"],
    "key": ["identity", "9k", "time", "é"],
    "tag": ["x\\ y", "x\\=y", "x\\,y", "a\\b", "é", "v" * 300],
    "field": [
        *["12u", "18446744073709551615u", '"with \\" quote"', '"back\\\\slash"'],
        *['"é"', '"' + "s" * 300 + '"'],
    ],
    "id": ['"bad id"', "1i", '"a' + "b" * 130 + '"'],
    "stamp": ["-5"],
}


@st.composite
def lines(draw: st.DrawFn, *, mixed: bool) -> bytes:
    def piece(kind: str) -> str:
        choices = PLAIN[kind] + (OTHER[kind] if mixed else [])
        return draw(st.sampled_from(choices))

    text = piece("name")
    tags = {piece("key"): piece("tag") for _ in range(draw(st.integers(0, 3)))}
    fields = {piece("key"): piece("field") for _ in range(draw(st.integers(1, 4)))}
    for key, value in tags.items():
        text += f",{key}={value}"
    parts = [f"{key}={value}" for key, value in fields.items() if key not in tags]
    if not parts:
        parts = ["zz=1i"]
    if draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), f"event_id={piece('id')}")
    text += " " + ",".join(parts)
    stamp = piece("stamp")
    if stamp is not None:
        text += f" {stamp}"
    return text.encode()


def reference(point, limits):
    """What the event path stores for ``point``: its encoded event, or the refusal."""
    try:
        event = event_from_point(point, identity="web", now_ns=NOW, limits=limits)
    except InvalidEvent as exc:
        return exc
    return encoded_event(event)


def fast_and_reference(line, limits):
    (point,) = parse_lines(line).points
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lineprotocol_events, "new_event_id", lambda: FIXED_ID)
        patch.setattr(point_lines, "new_event_id", lambda: FIXED_ID)
        return (
            point_line(point, identity="web", now_ns=NOW, limits=limits),
            reference(point, limits),
        )


@BOUNDED
@given(lines(mixed=False))
def test_plain_points_always_take_the_fast_path_and_store_what_the_event_path_would(line):
    fast, expected = fast_and_reference(line, Limits())
    assert fast is not None
    assert fast == expected
    assert fast.line == encode_events([line_event(fast.line)])


@BOUNDED
@given(lines(mixed=True), st.sampled_from([Limits(), Limits(max_keys=3, max_string_bytes=64)]))
def test_a_point_line_is_exactly_what_the_event_path_stores(line, limits):
    parsed = parse_lines(line)
    if not parsed.points:
        return
    (point,) = parsed.points
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lineprotocol_events, "new_event_id", lambda: FIXED_ID)
        patch.setattr(point_lines, "new_event_id", lambda: FIXED_ID)
        fast = point_line(point, identity="web", now_ns=NOW, limits=limits)
        expected = reference(point, limits)
    if fast is None:
        return  # the event path decides, with every rule and message
    assert not isinstance(expected, InvalidEvent), expected
    assert fast == expected
    event = line_event(fast.line)
    assert fast.line == encode_events([event])
    assert event.tags["identity"] == "web"


def test_plain_points_take_the_fast_path_and_add_identity_id_and_time():
    point = parse_line(b'cpu,host=a uid="u1",n=1i,x=0.5,ok=t')
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(point_lines, "new_event_id", lambda: FIXED_ID)
        encoded = point_line(point, identity="web", now_ns=NOW, limits=Limits())
    assert encoded is not None
    assert encoded.line == (
        b'cpu,host=a,identity=web uid="u1",n=1i,x=0.5,ok=true,'
        b'event_id="entry_0123456789abcdef0123456789abcdef" 1700000000000000000'
    )
    assert (encoded.event_id, encoded.uid, encoded.time_ns) == (FIXED_ID, "u1", NOW)


@pytest.mark.parametrize(
    "line",
    [
        b"cpu n=12u",  # unsigned: the model's path
        b'cpu s="say \\"hi\\""',  # an escaped string: checked by reading it back
        b"cpu,host=a\\ b n=1i",  # an escaped tag value, likewise
        b"cpu identity=1i",  # reserved key: refused by the model, with its message
        b"cpu,n=1 n=1i",  # a tag and a field of one key
    ],
)
def test_other_points_are_left_to_the_event_path(line):
    assert point_line(parse_line(line), identity="web", now_ns=NOW, limits=Limits()) is None
