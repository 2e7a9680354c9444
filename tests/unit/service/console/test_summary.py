"""The overview summary reports delivery when the store delivers through an outbox."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from stats_service.console.summary import WINDOW_MINUTES, overview
from stats_service.delivery.durable import DurableStore
from stats_service.delivery.memory import MemoryQueue
from stats_service.events.model import Event
from stats_service.storage.memory import MemoryStore

NOW_NS = 1_800_000_000 * 1_000_000_000


def test_a_durable_store_adds_the_outbox_status(make_event: Callable[..., Event]) -> None:
    async def scenario() -> dict[str, Any]:
        store = DurableStore(MemoryStore(), MemoryQueue())
        await store.open()
        try:
            await store.write([make_event(time_ns=NOW_NS - 5_000_000_000)])
            return await overview(store, now_ns=NOW_NS, max_events=100, page_size=10)
        finally:
            await store.close()

    body = asyncio.run(scenario())
    assert sum(body["ingest"]["per_minute"]) == 1
    assert len(body["ingest"]["per_minute"]) == WINDOW_MINUTES
    outbox = body["outbox"]
    assert outbox is not None
    assert {"state", "pending_events", "oldest_pending_age_seconds", "backend_ok"} <= set(outbox)


def test_the_window_ends_with_the_current_minute() -> None:
    async def scenario() -> dict[str, Any]:
        store = MemoryStore()
        await store.open()
        return await overview(store, now_ns=NOW_NS + 1, max_events=10, page_size=10)

    ingest = asyncio.run(scenario())["ingest"]
    end = ingest["start_ns"] + ingest["minute_ns"] * WINDOW_MINUTES
    assert ingest["start_ns"] < NOW_NS + 1 < end
    assert end - (NOW_NS + 1) <= ingest["minute_ns"]
