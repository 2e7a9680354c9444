"""The Kafka message of an event, and its deterministic timestamp."""

from __future__ import annotations

import pytest

from stats_service.delivery.kafka.codec import decode_event, deterministic_time_ns, encode_event
from stats_service.errors import InvalidEvent
from stats_service.events.model import Event

T0 = 1_763_850_000_000_000_000


def test_round_trip_keeps_types_and_moves_a_microsecond_time_by_a_per_id_offset() -> None:
    event = Event("evt-1", "analytics", T0, {"event": "click"}, {"a": True, "b": 1, "c": 1.0})
    key, value = encode_event(event)
    back = decode_event(key, value)
    assert key == b"evt-1"
    assert back.fields == {"a": True, "b": 1, "c": 1.0}
    assert [type(v) for v in back.fields.values()] == [bool, int, float]
    assert back.time_ns == deterministic_time_ns("evt-1", T0)
    assert T0 <= back.time_ns < T0 + 1000


def test_the_offset_is_the_same_every_time_and_differs_between_ids() -> None:
    assert deterministic_time_ns("a", T0) == deterministic_time_ns("a", T0)
    offsets = {deterministic_time_ns(f"id-{i}", T0) for i in range(200)}
    assert len(offsets) > 150  # distinct ids rarely share a nanosecond


def test_a_time_with_nanoseconds_of_its_own_is_kept() -> None:
    assert deterministic_time_ns("a", T0 + 17) == T0 + 17


def test_a_non_finite_field_is_refused_before_producing() -> None:
    with pytest.raises(InvalidEvent):
        encode_event(Event("e", "m", T0, {}, {"x": float("nan")}))


@pytest.mark.parametrize(
    "value", [b"not json", b"[1, 2]", b'["m", "t", {}, {}]', b'["m", 1, [], {}]'], ids=str
)
def test_a_message_that_is_not_an_event_is_a_value_error(value: bytes) -> None:
    with pytest.raises(ValueError, match="not an event message"):
        decode_event(b"k", value)
