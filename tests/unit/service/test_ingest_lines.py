"""``Ingestor.log_line_points``: on a store that takes lines (``DurableStore``) plain points go
straight to their stored lines, the rest through the model; the events stored are those of the
event path, and every refusal keeps its line number and message."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from stats_service.delivery.durable import DurableStore
from stats_service.delivery.lease import MemoryLeases
from stats_service.delivery.memory import MemoryQueue
from stats_service.delivery.outbox import Outbox
from stats_service.events.lineprotocol_parse import parse_lines
from stats_service.events.model import Event, Limits
from stats_service.ingest import Ingestor
from stats_service.storage.influx.lineprotocol import encode_event
from stats_service.storage.memory import MemoryStore

NOW = 1_700_000_000_000_000_000
BODY = b"\n".join(
    [
        b'cpu,host=a uid="u1",n=1i,event_id="entry_a" 1700000000000000005',
        b'cpu,host=a n=12u,event_id="entry_b" 1700000000000000006',  # model path
        b'cpu identity=1i,event_id="entry_c"',  # refused: reserved key
        b'cpu,host=a\\ b s="say \\"hi\\"",event_id="entry_d" 1700000000000000007',
        b'cpu,host=a n=2i,event_id="entry_e"',  # no time: now + its index
    ]
)


class Unreachable:
    """A backend nothing is forwarded to in these tests (this process stands by)."""

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def write(self, events: Sequence[Event]) -> None:
        raise AssertionError("not used")

    async def get(self, event_id: str) -> None:
        return None


def ingest(store) -> tuple[object, list[Event]]:
    async def scenario():
        await store.open()
        ingestor = Ingestor(store, measurement="analytics", limits=Limits(), clock_ns=lambda: NOW)
        outcome = await ingestor.log_line_points(parse_lines(BODY).points, "web")
        stored = [await store.get(event_id) for event_id in outcome.ids]
        await store.close()
        return outcome, stored

    return asyncio.run(asyncio.wait_for(scenario(), 30))


def durable(queue) -> DurableStore:
    """A durable store that only accepts and reads: another holder has the lease."""
    leases = MemoryLeases()
    assert leases.lease().try_acquire()
    return DurableStore(Unreachable(), queue, lease=leases.lease())  # type: ignore[arg-type]


def test_a_line_store_stores_what_the_event_path_stores(tmp_path: Path):
    reference, expected = ingest(MemoryStore())
    outcome, stored = ingest(durable(Outbox(tmp_path / "outbox.sqlite3")))
    assert outcome == reference
    assert outcome.ids == ["entry_a", "entry_b", "entry_d", "entry_e"]
    assert [number for number, _ in outcome.rejected] == [3]
    assert "reserved" in outcome.rejected[0][1]
    assert stored == expected
    assert stored[3].time_ns == NOW + 4
    assert stored[1].fields["n"] == 12
    assert stored[0].tags == {"host": "a", "identity": "web"}


def test_a_queue_without_lines_gets_the_same_events(tmp_path: Path):
    reference, expected = ingest(MemoryStore())
    outcome, stored = ingest(durable(MemoryQueue()))
    assert outcome == reference
    assert stored == expected


def test_the_outbox_holds_the_encoders_line_for_each(tmp_path: Path):
    path = tmp_path / "outbox.sqlite3"
    _, stored = ingest(durable(Outbox(path)))

    async def lines() -> list[bytes | None]:
        outbox = Outbox(path)
        await outbox.start()
        try:
            return [entry.line for entry in await outbox.next_batch(10, 1 << 20)]
        finally:
            await outbox.stop()

    assert asyncio.run(lines()) == [encode_event(event).encode() for event in stored]
