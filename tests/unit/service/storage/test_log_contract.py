"""One log contract for every log the live stream can follow: positions in commit order
(for the Kafka tail: the order this process read the topic in)."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from stats_service.delivery.kafka.codec import deterministic_time_ns, encode_event
from stats_service.delivery.kafka.consumer import Message
from stats_service.delivery.kafka.tail import KafkaTail
from stats_service.delivery.outbox import Outbox
from stats_service.events.model import Event
from stats_service.storage.embedded import EmbeddedStore
from stats_service.storage.log import EventLog
from stats_service.storage.memory import MemoryStore


class _NoReader:
    """A tail reader with one partition at offset 0 and nothing to poll: the test feeds it."""

    async def open(self) -> None:
        pass

    async def refresh(self) -> dict[int, int]:
        return {0: 0}

    async def poll(self, max_messages: int, timeout_seconds: float) -> list[Message]:
        await asyncio.sleep(timeout_seconds)
        return []

    async def close(self) -> None:
        pass


def as_stored(kind: str, event: Event) -> Event:
    """The event as the log gives it back (the Kafka codec fixes a sub-microsecond time)."""
    if kind != "kafka":
        return event
    return dataclasses.replace(event, time_ns=deterministic_time_ns(event.event_id, event.time_ns))


@asynccontextmanager
async def _log(kind: str, tmp_path: Path) -> AsyncIterator[tuple[EventLog, Callable[..., object]]]:
    if kind == "kafka":
        tail = KafkaTail(_NoReader(), poll_seconds=0.01)
        offsets = itertools.count()

        async def produce(events: list[Event]) -> None:
            tail.ingest([Message(0, next(offsets), *encode_event(e)) for e in events])

        await tail.start()
        try:
            yield tail, produce
        finally:
            await tail.stop()
        return
    if kind == "outbox":
        outbox = Outbox(tmp_path / "outbox.sqlite3")
        outbox.open(create=True)
        try:
            yield outbox, outbox.append
        finally:
            outbox.close()
        return
    store = MemoryStore() if kind == "memory" else EmbeddedStore(tmp_path / "events.sqlite3")
    await store.open()
    try:
        yield store, store.write
    finally:
        await store.close()


@pytest.fixture(params=["memory", "embedded", "outbox", "kafka"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_entries_come_in_commit_order_after_a_position(kind, tmp_path, make_event) -> None:
    async def scenario() -> None:
        async with _log(kind, tmp_path) as (log, write):
            assert isinstance(log, EventLog)
            assert await log.head() == 0
            assert await log.read_after(0, 10) == []
            # commit order, not time or id order
            events: list[Event] = [
                make_event(f"z-{i}", time_ns=1_700_000_000_000_000_000 - i, uid=f"u{i}")
                for i in range(5)
            ]
            await write(events[:3])
            await write(events[3:])
            entries = await log.read_after(0, 10)
            assert [entry.event_id for entry in entries] == [e.event_id for e in events]
            assert [entry.event for entry in entries] == [as_stored(kind, e) for e in events]
            seqs = [entry.seq for entry in entries]
            assert seqs == sorted(seqs)
            assert len(set(seqs)) == 5
            assert await log.head() == seqs[-1]
            assert [e.event_id for e in await log.read_after(seqs[1], 2)] == ["z-2", "z-3"]
            assert await log.read_after(seqs[-1], 10) == []
            assert await log.position_of("z-3") == seqs[3]
            assert await log.position_of("nope") is None

    asyncio.run(scenario())


def test_a_duplicate_id_takes_no_new_position(kind, tmp_path, make_event) -> None:
    async def scenario() -> None:
        async with _log(kind, tmp_path) as (log, write):
            await write([make_event("a")])
            head = await log.head()
            await write([make_event("a")])
            assert await log.head() == head
            assert len(await log.read_after(0, 10)) == 1

    asyncio.run(scenario())
