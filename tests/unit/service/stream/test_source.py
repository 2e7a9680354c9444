"""Which log a stream follows: the store itself, or the outbox with bodies from the backend."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from stats_service.storage.log import LogEntry
from stats_service.storage.memory import MemoryStore
from stats_service.stream.source import OutboxLog, event_log_of


class _ForwardedQueue:
    """An outbox whose entries lost their bodies (forwarded), one of them unknown to the backend."""

    async def read_after(self, seq: int, limit: int) -> list[LogEntry]:
        entries = [LogEntry(1, "kept", None), LogEntry(2, "gone-from-backend", None)]
        return [entry for entry in entries if entry.seq > seq][:limit]

    async def position_of(self, event_id: str) -> int | None:
        return {"kept": 1}.get(event_id)

    async def head(self) -> int:
        return 2


def test_forwarded_events_are_read_back_from_the_backend(make_event) -> None:
    async def scenario() -> None:
        backend = MemoryStore()
        await backend.open()
        await backend.write([make_event("kept")])
        log = OutboxLog(_ForwardedQueue(), SimpleNamespace(backend=backend))  # type: ignore[arg-type]
        entries = await log.read_after(0, 10)
        assert [entry.event_id for entry in entries] == ["kept", "gone-from-backend"]
        assert entries[0].event == make_event("kept")
        assert entries[1].event is None  # the tailer skips it
        assert await log.position_of("kept") == 1
        assert await log.head() == 2

    asyncio.run(scenario())


def test_a_store_that_is_a_log_is_followed_directly() -> None:
    store = MemoryStore()
    assert event_log_of(store) is store
    assert event_log_of(object()) is None  # type: ignore[arg-type]
