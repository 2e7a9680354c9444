"""One log contract for every store the live stream can follow: positions in commit order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from stats_service.delivery.outbox import Outbox
from stats_service.events.model import Event
from stats_service.storage.embedded import EmbeddedStore
from stats_service.storage.log import EventLog
from stats_service.storage.memory import MemoryStore


@asynccontextmanager
async def _log(kind: str, tmp_path: Path) -> AsyncIterator[tuple[EventLog, Callable[..., object]]]:
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


@pytest.fixture(params=["memory", "embedded", "outbox"])
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
            assert [entry.event for entry in entries] == events
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
