"""The cached start of a line (measurement and tags) changes nothing in what is written."""

from __future__ import annotations

import pytest

from stats_service.errors import InvalidEvent
from stats_service.events.model import Event
from stats_service.storage.influx import lineprotocol
from stats_service.storage.influx.lineprotocol import encode_event


def event(tags: dict[str, str], measurement: str = "m") -> Event:
    return Event(event_id="e1", measurement=measurement, time_ns=5, tags=tags, fields={"n": 1})


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({}, 'm n=1i,event_id="e1" 5'),
        ({"b": "2", "a": "1"}, 'm,a=1,b=2 n=1i,event_id="e1" 5'),
        ({"a": "1", "b": "2"}, 'm,a=1,b=2 n=1i,event_id="e1" 5'),
        ({"a": "", "b": "x y"}, 'm,b=x\\ y n=1i,event_id="e1" 5'),
    ],
    ids=["no-tags", "unsorted", "sorted", "empty-and-escaped"],
)
def test_lines_are_the_same_from_the_cache(tags: dict[str, str], expected: str) -> None:
    assert encode_event(event(tags)) == expected
    assert encode_event(event(dict(tags))) == expected


def test_the_measurement_override_is_part_of_the_series() -> None:
    assert encode_event(event({"a": "1"}), measurement="x").startswith("x,a=1 ")
    assert encode_event(event({"a": "1"})).startswith("m,a=1 ")


def test_an_unwritable_tag_is_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(InvalidEvent, match="ends with a backslash"):
            encode_event(event({"a": "x\\"}))


def test_the_cache_is_bounded() -> None:
    for number in range(lineprotocol._CACHE_SIZE + 10):
        encode_event(event({"n": str(number)}))
    assert len(lineprotocol._series_cache) <= lineprotocol._CACHE_SIZE
