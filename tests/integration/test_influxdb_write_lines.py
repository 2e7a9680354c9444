"""``InfluxDBStore.write_lines`` against a real influxd: stored lines go out as they are, and a
refused batch still names exactly the events it lost (what the forwarder dead-letters)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from influxd import InfluxDServer

from stats_service.events.model import Event, FieldValue
from stats_service.storage.base import EventQuery
from stats_service.storage.influx.config import InfluxDBConfig
from stats_service.storage.influx.errors import InfluxWriteRejected
from stats_service.storage.influx.stored import event_line
from stats_service.storage.influx.v1 import InfluxDBStore

pytestmark = [pytest.mark.integration, pytest.mark.influxdb]

T = TypeVar("T")
T0 = 1_763_850_000_000_000_000
END = T0 + 10**12


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), 60)

    return asyncio.run(bounded())


def event(event_id: str, time_ns: int, fields: dict[str, FieldValue]) -> Event:
    return Event(event_id, "analytics", time_ns, {"event": "signup"}, {"uid": "u", **fields})


def pairs(events: list[Event]) -> list[tuple[str, bytes]]:
    lines = [(e.event_id, event_line(e)) for e in events]
    assert all(line is not None for _, line in lines)
    return [(event_id, line) for event_id, line in lines if line is not None]


@pytest.fixture
def config(influxd: InfluxDServer, influx_database: str) -> InfluxDBConfig:
    return InfluxDBConfig(url=influxd.url, database=influx_database)


def test_stored_lines_read_back_as_their_events(config):
    events = [
        event(f"e{i}", T0 + i, {"n": i, "x": 0.5 + i, "s": 'q"\n', "b": True}) for i in range(5)
    ]

    async def scenario() -> list[Event]:
        async with InfluxDBStore(config) as store:
            await store.write_lines(pairs(events))
            return (await store.query(EventQuery(since_ns=T0, until_ns=END, limit=10))).events

    assert run(scenario) == events


def test_a_type_conflict_names_exactly_the_lines_it_dropped(config):
    batch = [
        event("ok-1", T0 + 1, {"x": 2.5}),
        event("int-x", T0 + 2, {"x": 3}),
        event("ok-2", T0 + 3, {"y": 1}),
        event("str-x", T0 + 4, {"x": "three"}),
    ]

    async def scenario() -> tuple[InfluxWriteRejected, list[str]]:
        async with InfluxDBStore(config) as store:
            await store.write_lines(pairs([event("seed", T0, {"x": 1.5})]))
            with pytest.raises(InfluxWriteRejected) as caught:
                await store.write_lines(pairs(batch))
            page = await store.query(EventQuery(since_ns=T0, until_ns=END, limit=10))
            return caught.value, [e.event_id for e in page.events]

    rejected, stored = run(scenario)
    assert rejected.influx_status == 400
    assert rejected.rejected_event_ids == frozenset({"int-x", "str-x"})
    assert stored == ["seed", "ok-1", "ok-2"]


def test_an_unparsable_line_is_named_and_the_rest_stored(config):
    good = event("good", T0, {"n": 1})

    async def scenario() -> tuple[InfluxWriteRejected, list[str]]:
        async with InfluxDBStore(config) as store:
            with pytest.raises(InfluxWriteRejected) as caught:
                await store.write_lines([*pairs([good]), ("bad", b"analytics x=1i,y= 5")])
            page = await store.query(EventQuery(since_ns=T0, until_ns=END, limit=10))
            return caught.value, [e.event_id for e in page.events]

    rejected, stored = run(scenario)
    assert rejected.rejected_event_ids == frozenset({"bad"})
    assert stored == ["good"]
