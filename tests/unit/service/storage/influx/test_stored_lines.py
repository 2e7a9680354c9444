"""An event kept as its line: the line is what the encoder writes, and reads back as the event."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stats_service.events.model import Event
from stats_service.storage.influx.lineprotocol import encode_event, encode_events
from stats_service.storage.influx.stored import event_line, line_event, retimed_line

BOUNDED = settings(max_examples=300, deadline=None)

# Any text at all, backslashes and quotes included: event_line must refuse what
# does not read back, never store a line that stands for another event.
any_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
field_values = st.one_of(
    any_text,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
events = st.builds(
    Event,
    event_id=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}", fullmatch=True),
    measurement=names,
    time_ns=st.integers(min_value=-(2**63) + 2, max_value=2**63 - 2),
    tags=st.dictionaries(names, any_text, max_size=4),
    fields=st.dictionaries(names, field_values, max_size=4),
)


@BOUNDED
@given(events)
def test_a_stored_line_is_the_encoders_line_and_reads_back_as_the_event(event):
    line = event_line(event)
    if line is None:
        return
    assert line == encode_event(event).encode("utf-8")
    assert line == encode_events([event])
    assert line_event(line) == event


@BOUNDED
@given(
    st.dictionaries(
        st.from_regex(r"[a-z]{1,8}", fullmatch=True),
        st.from_regex(r"[a-z0-9 ,=]{1,8}", fullmatch=True),
        max_size=3,
    ),
    st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), field_values, max_size=3),
)
def test_plain_events_always_have_a_line(tags, fields):
    event = Event("e-1", "analytics", 1_700_000_000_000_000_000, tags, fields)
    line = event_line(event)
    assert line is not None
    assert line_event(line) == event


@pytest.mark.parametrize(
    "event",
    [
        Event("e-1", "m", 1, {"event": ""}, {"n": 1}),  # empty tags are never written
        Event("e-1", "m", 1, {"a": "ends\\"}, {"n": 1}),  # the encoder refuses it
        Event("e-1", "m", 1, {}, {"event_id": "x"}),  # reserved field
        Event("e-1", "m", 1, {}, {"x": float("nan")}),
    ],
    ids=["empty-tag", "trailing-backslash", "reserved-field", "nan"],
)
def test_events_no_line_stands_for_have_none(event):
    assert event_line(event) is None


def test_a_moved_time_rewrites_only_the_timestamp():
    event = Event("e-1", "m", 5, {"a": "x y"}, {"s": "with spaces 7"})
    line = event_line(event)
    assert line is not None
    moved = retimed_line(line, 6)
    assert line_event(moved) == Event("e-1", "m", 6, {"a": "x y"}, {"s": "with spaces 7"})


@pytest.mark.parametrize("line", [b"m x=1", b"m n=1i 5", b"not a line"])
def test_lines_without_an_id_or_time_are_not_stored_lines(line):
    with pytest.raises(ValueError, match="not a stored line"):
        line_event(line)
