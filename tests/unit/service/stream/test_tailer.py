"""The tailer over an in-memory log: delivery, filters, resume, limits, slow clients."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from stats_service.errors import Gone, InvalidInput, TooManyRequests
from stats_service.storage.log import LogEntry
from stats_service.storage.memory import MemoryStore
from stats_service.stream import StreamConfig, StreamFilter, Tailer
from stats_service.stream.subscription import Ended

T = TypeVar("T")


class _Counts:
    def __init__(self) -> None:
        self.clients = 0
        self.dropped: list[str] = []

    def stream_clients(self, delta: int) -> None:
        self.clients += delta

    def stream_dropped(self, reason: str) -> None:
        self.dropped.append(reason)


def _run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), 10)

    return asyncio.run(bounded())


def _config(**overrides: object) -> StreamConfig:
    options: dict[str, object] = {"poll_interval_seconds": 0.005, "read_batch_events": 3}
    options.update(overrides)
    return StreamConfig(**options)  # type: ignore[arg-type]


async def _take(subscription, count: int) -> list[str]:
    got: list[str] = []
    while len(got) < count:
        item = await subscription.next(2.0)
        assert item is not None
        assert not isinstance(item, Ended), item
        got.append(item.event_id)
    return got


def test_new_events_reach_matching_subscriptions_in_order(make_event) -> None:
    async def scenario() -> None:
        store, counts = MemoryStore(), _Counts()
        await store.open()
        await store.write([make_event("old")])
        tailer = Tailer(store, _config(), counts)
        await tailer.start()
        everything = tailer.subscribe("a", StreamFilter())
        only_b = tailer.subscribe("a", StreamFilter.parse([("event", "b")]))
        assert counts.clients == 2
        await store.write([make_event(f"e{i}", event="b" if i % 2 else "a") for i in range(7)])
        assert await _take(everything, 7) == [f"e{i}" for i in range(7)]
        assert await _take(only_b, 3) == ["e1", "e3", "e5"]
        assert await only_b.next(0.05) is None  # quiet: a heartbeat is due
        await tailer.stop()
        assert counts.dropped == ["shutdown", "shutdown"]
        assert counts.clients == 0

    _run(scenario)


def test_resume_replays_up_to_the_live_part_without_gap_or_repeat(make_event) -> None:
    async def scenario() -> None:
        store = MemoryStore()
        await store.open()
        await store.write([make_event(f"e{i}") for i in range(10)])
        tailer = Tailer(store, _config(), _Counts())
        await tailer.start()
        subscription = tailer.subscribe("a", StreamFilter())
        await store.write([make_event(f"e{i}") for i in range(10, 13)])
        start = await tailer.resume_from("e4")
        replayed = [entry.event_id async for entry in tailer.replay(subscription, start)]
        assert replayed == [f"e{i}" for i in range(5, 10)]
        assert await _take(subscription, 3) == ["e10", "e11", "e12"]
        with pytest.raises(Gone):
            await tailer.resume_from("unknown")
        await tailer.stop()

    _run(scenario)


def test_a_resume_point_beyond_the_retention_is_gone(make_event) -> None:
    async def scenario() -> None:
        store = MemoryStore()
        await store.open()
        await store.write([make_event(f"e{i}") for i in range(10)])
        tailer = Tailer(store, _config(replay_max_events=5), _Counts())
        await tailer.start()
        assert await tailer.resume_from("e5") == 6
        with pytest.raises(Gone, match="more than the 5 kept"):
            await tailer.resume_from("e3")
        await tailer.stop()

    _run(scenario)


def test_a_slow_client_is_dropped_after_its_buffer(make_event) -> None:
    async def scenario() -> None:
        store, counts = MemoryStore(), _Counts()
        await store.open()
        tailer = Tailer(store, _config(buffer_events=4), counts)
        await tailer.start()
        slow = tailer.subscribe("a", StreamFilter())
        await store.write([make_event(f"e{i}") for i in range(6)])
        ended = None
        for _ in range(200):
            await asyncio.sleep(0.005)
            if slow.ended is not None:
                ended = await slow.next(0.1)
                break
        assert isinstance(ended, Ended)
        assert ended.reason == "slow_consumer"
        assert counts.dropped == ["slow_consumer"]
        assert counts.clients == 0
        assert tailer.clients == 0
        await tailer.stop()

    _run(scenario)


def test_streams_per_identity_are_limited_and_freed() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        await store.open()
        tailer = Tailer(store, _config(max_per_identity=2), _Counts())
        await tailer.start()
        first = tailer.subscribe("a", StreamFilter())
        tailer.subscribe("a", StreamFilter())
        with pytest.raises(TooManyRequests):
            tailer.subscribe("a", StreamFilter())
        tailer.subscribe("b", StreamFilter())
        tailer.unsubscribe(first)
        tailer.unsubscribe(first)  # idempotent
        tailer.subscribe("a", StreamFilter())
        await tailer.stop()

    _run(scenario)


@pytest.mark.parametrize(
    "pairs",
    [[("evnt", "x")], [("uid", "")], [("event", "a\nb")], [("measurement", "m")] * 101],
    ids=["unknown-key", "empty", "control-char", "too-many"],
)
def test_bad_filters_are_invalid_input(pairs) -> None:
    with pytest.raises(InvalidInput):
        StreamFilter.parse(pairs)


def test_filters_combine_keys_and_alternate_values(make_event) -> None:
    chosen = StreamFilter.parse([("event", "a"), ("event", "b"), ("uid", "u1"), ("since_id", "x")])
    assert chosen.matches(make_event(event="a", uid="u1"))
    assert chosen.matches(make_event(event="b", uid="u1"))
    assert not chosen.matches(make_event(event="c", uid="u1"))
    assert not chosen.matches(make_event(event="a", uid="u2"))
    assert not chosen.matches(make_event(event="a", uid=7))
    assert StreamFilter.parse([("measurement", "m")]).matches(make_event(measurement="m"))


class _CountingReads(MemoryStore):
    """A memory log that counts the pages read from it."""

    def __init__(self) -> None:
        super().__init__()
        self.pages_read = 0

    async def read_after(self, seq: int, limit: int) -> list[LogEntry]:
        self.pages_read += 1
        return await super().read_after(seq, limit)


def test_with_nobody_subscribed_the_log_is_followed_not_read(make_event) -> None:
    async def scenario() -> None:
        store = _CountingReads()
        await store.open()
        tailer = Tailer(store, _config(), _Counts())
        await tailer.start()
        await store.write([make_event(f"early{i}") for i in range(5)])
        for _ in range(400):
            if tailer.position >= 5:
                break
            await asyncio.sleep(0.005)
        assert tailer.position == 5
        assert store.pages_read == 0
        subscription = tailer.subscribe("a", StreamFilter())
        await store.write([make_event(f"late{i}") for i in range(4)])
        # Live from where it joined: nothing accepted before it, everything after.
        assert await _take(subscription, 4) == [f"late{i}" for i in range(4)]
        assert store.pages_read > 0
        await tailer.stop()

    _run(scenario)
