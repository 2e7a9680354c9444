"""What only the memory store promises (the shared contract is in test_store_contract.py)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from stats_service.errors import ServiceUnavailable
from stats_service.storage.base import EventQuery
from stats_service.storage.memory import MemoryStore

T = TypeVar("T")

T0 = 1_700_000_000_000_000_000


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(scenario())


def test_health_counts_the_stored_events(make_event):
    async def scenario() -> str:
        store = MemoryStore()
        await store.open()
        await store.write([make_event("a"), make_event("b"), make_event("a")])
        health = await store.health()
        assert (health.backend, health.ok) == ("memory", True)
        return health.detail

    assert run(scenario) == "2 events"


def test_stores_do_not_share_data(make_event):
    async def scenario() -> tuple[bool, bool]:
        first, second = MemoryStore(), MemoryStore()
        await first.open()
        await second.open()
        await first.write([make_event("only-in-first")])
        return (
            await first.get("only-in-first") is not None,
            await second.get("only-in-first") is not None,
        )

    assert run(scenario) == (True, False)


@pytest.mark.parametrize("operation", ["write", "get", "query"], ids=["write", "get", "query"])
def test_a_store_never_opened_refuses_work(make_event, operation):
    store = MemoryStore()
    calls = {
        "write": lambda: store.write([make_event("x")]),
        "get": lambda: store.get("x"),
        "query": lambda: store.query(EventQuery(since_ns=0, until_ns=1, limit=1)),
    }

    async def scenario() -> None:
        with pytest.raises(ServiceUnavailable, match="not open"):
            await calls[operation]()

    run(scenario)


def test_writes_in_any_order_query_in_key_order(make_event):
    rng = random.Random(5)
    keys = [(T0 + rng.randrange(30), f"id-{i:03d}") for i in range(200)]
    rng.shuffle(keys)

    async def scenario() -> list[tuple[int, str]]:
        store = MemoryStore()
        await store.open()
        for start in range(0, len(keys), 7):
            await store.write(
                [make_event(event_id, time_ns=t) for t, event_id in keys[start : start + 7]]
            )
        page = await store.query(EventQuery(since_ns=T0 + 10, until_ns=T0 + 20, limit=1000))
        return [(event.time_ns, event.event_id) for event in page.events]

    assert run(scenario) == sorted(key for key in keys if T0 + 10 <= key[0] < T0 + 20)
