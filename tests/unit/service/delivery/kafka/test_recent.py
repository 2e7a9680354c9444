"""A replica's lately produced events: bounded, readable by id and by window."""

from __future__ import annotations

import pytest

from stats_service.delivery.kafka.codec import deterministic_time_ns, encode_event
from stats_service.delivery.kafka.recent import RecentWrites
from stats_service.events.model import Event
from stats_service.events.query import EventQuery

T0 = 1_763_850_000_000_000_000


def _event(number: int, *, name: str = "page.view", uid: str = "u1") -> Event:
    return Event(
        event_id=f"ev-{number:04d}",
        measurement="analytics",
        time_ns=T0 + number * 1000,
        tags={"event": name},
        fields={"uid": uid, "n": number},
    )


def _kept(*events: Event, capacity: int = 100) -> RecentWrites:
    recent = RecentWrites(capacity)
    recent.add(events, [encode_event(event) for event in events])
    return recent


def test_an_event_reads_back_with_the_time_its_point_gets() -> None:
    event = _event(1)
    got = _kept(event).get(event.event_id)
    assert got is not None
    assert got.time_ns == deterministic_time_ns(event.event_id, event.time_ns) != event.time_ns
    assert (got.tags, got.fields) == (event.tags, event.fields)
    assert _kept(event).get("ev-9999") is None


def test_only_the_newest_are_kept() -> None:
    recent = _kept(*(_event(n) for n in range(10)), capacity=4)
    assert len(recent) == 4
    assert recent.get("ev-0005") is None
    assert recent.get("ev-0006") is not None
    recent.add([_event(20)], [encode_event(_event(20))])
    assert recent.get("ev-0006") is None
    assert [e.event_id for e in recent.query(EventQuery(0, 2**62, 10)).events] == [
        "ev-0007",
        "ev-0008",
        "ev-0009",
        "ev-0020",
    ]


def test_a_capacity_of_zero_keeps_nothing() -> None:
    recent = _kept(_event(1), capacity=0)
    assert len(recent) == 0
    assert recent.get("ev-0001") is None


def test_a_window_query_filters_orders_and_pages() -> None:
    events = [_event(n, name="a" if n % 2 else "b", uid=f"u{n % 3}") for n in range(12)]
    recent = _kept(*reversed(events))
    window = EventQuery(T0 + 2000, T0 + 10_000, limit=3, event="a")
    first = recent.query(window)
    assert [e.event_id for e in first.events] == ["ev-0003", "ev-0005", "ev-0007"]
    assert first.next_after is not None
    rest = recent.query(
        EventQuery(T0 + 2000, T0 + 10_000, limit=3, event="a", after=first.next_after)
    )
    assert [e.event_id for e in rest.events] == ["ev-0009"]
    assert rest.next_after is None
    by_uid = recent.query(EventQuery(0, 2**62, limit=50, uid="u0"))
    assert [e.event_id for e in by_uid.events] == ["ev-0000", "ev-0003", "ev-0006", "ev-0009"]
    assert recent.query(EventQuery(0, 2**62, limit=50, measurement="other")).events == []
    with pytest.raises(ValueError, match="limit"):
        recent.query(EventQuery(0, 1, limit=0))
