"""The Kafka tail as the stream's log: two replicas read the partitions in different
orders, and a cursor from one resumes on the other without a repeat or a gap."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from stats_service.delivery.kafka.codec import encode_event
from stats_service.delivery.kafka.consumer import Message
from stats_service.delivery.kafka.tail import KafkaTail, format_cursor, parse_cursor
from stats_service.errors import Gone
from stats_service.events.model import Event
from stats_service.storage.log import EventLog, LiveLog, LiveLogSource, ResumableLog
from stats_service.stream import StreamConfig, StreamFilter, Tailer
from stats_service.stream.subscription import Ended, Subscription

T = TypeVar("T")
T0 = 1_763_850_000_000_000_000


class _Quiet:
    def stream_clients(self, delta: int) -> None:
        pass

    def stream_dropped(self, reason: str) -> None:
        pass


class IdleReader:
    """Two partitions starting at offset 0; the test hands messages to the tail itself."""

    def __init__(self) -> None:
        self.opened = self.closed = False
        self.refreshes = 0

    async def open(self) -> None:
        self.opened = True

    async def refresh(self) -> dict[int, int]:
        self.refreshes += 1
        return {0: 0, 1: 0} if self.refreshes == 1 else {}

    async def poll(self, max_messages: int, timeout_seconds: float) -> list[Message]:
        await asyncio.sleep(timeout_seconds)
        return []

    async def close(self) -> None:
        self.closed = True


def _run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), 10)

    return asyncio.run(bounded())


def message(name: str) -> Message:
    """``a3``: partition 0 (``a``) or 1 (``b``), offset 3, event id ``a3``."""
    partition, offset = "ab".index(name[0]), int(name[1:])
    key, value = encode_event(Event(name, "m", T0 + offset * 1000, {}, {"n": offset}))
    return Message(partition, offset, key, value)


def messages(names: str) -> list[Message]:
    return [message(name) for name in names.split()]


async def _take(subscription: Subscription, count: int) -> list[str]:
    got: list[str] = []
    while len(got) < count:
        item = await subscription.next(2.0)
        assert item is not None
        assert not isinstance(item, Ended), item
        got.append(item.event_id)
    return got


def test_cursors_name_every_partitions_next_offset_and_nothing_else_parses() -> None:
    cursor = format_cursor("evt-1", {0: 12, 2: 7})
    assert cursor == "evt-1@12.0.7"
    assert parse_cursor(cursor) == ("evt-1", {0: 12, 1: 0, 2: 7})
    for token in ("evt-1", "evt-1@", "@1.2", "evt-1@1.x", "evt-1@-1", "e@²", "e@" + "9" * 20):
        assert parse_cursor(token) is None, token


def test_the_tail_is_a_live_resumable_log_numbered_in_read_order() -> None:
    async def scenario() -> None:
        reader = IdleReader()
        tail = KafkaTail(reader, poll_seconds=0.01)
        assert isinstance(tail, EventLog)
        assert isinstance(tail, ResumableLog)
        assert isinstance(tail, LiveLog)
        await tail.start()
        assert reader.opened
        assert await tail.head() == 0
        assert tail.ingest(messages("a0 b0 a1")) == 3
        page = await tail.read_after(1, 10)
        assert [(e.seq, e.event_id, e.cursor) for e in page] == [
            (2, "b0", "b0@1.1"),
            (3, "a1", "a1@2.1"),
        ]
        assert await tail.read_after(3, 10) == []
        assert await tail.position_of("b0") == 2
        assert await tail.position_of("b0@1.1") == 2
        assert await tail.position_of("nope") is None
        await tail.stop()
        assert reader.closed

    _run(scenario)


def test_an_id_produced_twice_is_kept_once() -> None:
    async def scenario() -> list[str]:
        tail = KafkaTail(IdleReader())
        await tail.start()
        retry = Message(0, 1, *encode_event(Event("a0", "m", T0, {}, {"n": 0})))
        tail.ingest([message("a0"), retry, message("a2")])
        ids = [e.event_id for e in await tail.read_after(0, 10)]
        await tail.stop()
        return ids

    assert _run(scenario) == ["a0", "a2"]


def test_a_cursor_from_one_replica_resumes_on_another_without_repeat_or_gap() -> None:
    everything = {f"a{i}" for i in range(5)} | {f"b{i}" for i in range(5)}

    async def scenario() -> tuple[list[str], list[str], list[str]]:
        replica_a, replica_b = KafkaTail(IdleReader()), KafkaTail(IdleReader())
        await replica_a.start()
        await replica_b.start()
        config = StreamConfig(poll_interval_seconds=0.005, read_batch_events=3)
        # The client streams from replica A and sees five events, in A's order.
        replica_a.ingest(messages("a0 a1 a2 b0 b1"))
        seen = [e.event_id for e in await replica_a.read_after(0, 10)]
        last_cursor = (await replica_a.read_after(4, 1))[0].cursor
        assert last_cursor == "b1@3.2"
        # Replica B read the partitions in another order, and is partly ahead.
        replica_b.ingest(messages("b0 b1 b2 b3 a0 b4"))
        tailer = Tailer(replica_b, config, _Quiet())
        await tailer.start()
        subscription = tailer.subscribe("dash", StreamFilter())
        start = await tailer.resume_from(last_cursor, subscription)
        replayed = [e.event_id async for e in tailer.replay(subscription, start)]
        replica_b.ingest(messages("a1 a2 a3 a4"))
        live = await _take(subscription, 2)
        assert await subscription.next(0.05) is None  # nothing more: a1, a2 were seen
        await tailer.stop()
        await replica_a.stop()
        await replica_b.stop()
        return seen, replayed, live

    seen, replayed, live = _run(scenario)
    assert replayed == ["b2", "b3", "b4"]
    assert live == ["a3", "a4"]
    delivered = seen + replayed + live
    assert len(delivered) == len(set(delivered)) == len(everything)
    assert set(delivered) == everything


def test_a_plain_event_id_resumes_exactly_on_the_replica_that_served_it() -> None:
    async def scenario() -> list[str]:
        tail = KafkaTail(IdleReader())
        await tail.start()
        tail.ingest(messages("a0 b0 a1 b1 a2"))
        tailer = Tailer(tail, StreamConfig(poll_interval_seconds=0.005), _Quiet())
        await tailer.start()
        subscription = tailer.subscribe("dash", StreamFilter())
        start = await tailer.resume_from("b0", subscription)
        replayed = [e.event_id async for e in tailer.replay(subscription, start)]
        await tailer.stop()
        await tail.stop()
        return replayed

    assert _run(scenario) == ["a1", "b1", "a2"]


def test_a_resume_point_older_than_what_is_kept_is_gone() -> None:
    async def scenario() -> None:
        tail = KafkaTail(IdleReader(), retain_events=3)
        await tail.start()
        tail.ingest(messages("a0 b0"))
        old_cursor = (await tail.read_after(0, 1))[0].cursor
        assert old_cursor is not None
        tail.ingest(messages("a1 b1 a2"))  # a0 and b0 are forgotten
        assert [e.event_id for e in await tail.read_after(0, 10)] == ["a1", "b1", "a2"]
        assert await tail.resume_point(old_cursor) is None
        assert await tail.resume_point("a0") is None
        tailer = Tailer(tail, StreamConfig(), _Quiet())
        await tailer.start()
        with pytest.raises(Gone):
            await tailer.resume_from(old_cursor)
        # a cursor still inside what is kept resumes
        kept = await tail.read_after(3, 1)
        assert kept[0].cursor is not None
        point = await tail.resume_point(kept[0].cursor)
        assert point is not None
        assert point.position == 4
        await tailer.stop()
        await tail.stop()

    _run(scenario)


def test_a_kafka_queue_opens_a_new_tail_of_its_topic_for_each_stream() -> None:
    from stats_service.delivery.kafka import KafkaConfig, KafkaQueue  # noqa: PLC0415

    queue = KafkaQueue(KafkaConfig(topic="t", stream_retain_events=5))
    assert isinstance(queue, LiveLogSource)
    first, second = queue.live_log(), queue.live_log()
    assert isinstance(first, KafkaTail)
    assert first is not second


class BrokenReader(IdleReader):
    """Its brokers went away after the first refresh."""

    async def poll(self, max_messages: int, timeout_seconds: float) -> list[Message]:
        raise RuntimeError("no broker")


def test_a_failing_read_is_reported_and_retried() -> None:
    async def scenario() -> tuple[bool, bool]:
        tail = KafkaTail(BrokenReader(), poll_seconds=0.01)
        await tail.start()
        before = tail.failing
        for _ in range(100):
            if tail.failing:
                break
            await asyncio.sleep(0.01)
        failing = tail.failing
        await tail.stop()
        return before, failing

    assert _run(scenario) == (False, True)


class LateReader(IdleReader):
    """The brokers do not answer the first refresh."""

    async def refresh(self) -> dict[int, int]:
        self.refreshes += 1
        if self.refreshes == 1:
            raise RuntimeError("no broker yet")
        return {0: 4} if self.refreshes == 2 else {}


def test_a_tail_starts_without_brokers_and_assigns_once_they_answer() -> None:
    async def scenario() -> tuple[bool, list[str]]:
        reader = LateReader()
        tail = KafkaTail(reader, poll_seconds=0.01)
        await tail.start()  # does not raise: the service starts without its brokers
        failing = tail.failing
        for _ in range(100):
            if reader.refreshes >= 2:
                break
            await asyncio.sleep(0.01)
        tail.ingest(messages("a3 a4 a5"))  # a3 is before where the partition was assigned
        ids = [e.event_id for e in await tail.read_after(0, 10)]
        await tail.stop()
        return failing, ids

    assert _run(scenario) == (True, ["a4", "a5"])
