"""The cached count of pending dead letters: what it counts, when it reads the topic."""

from __future__ import annotations

import asyncio

from stats_service.delivery.kafka.codec import encode_event
from stats_service.delivery.kafka.deadcount import DeadLetterCount, count_pending
from stats_service.delivery.kafka.replay import DeadLetters, DeadRecord, MemoryDeadLetterTopic
from stats_service.events.model import Event

T0 = 1_763_850_000_000_000_000


class CountingTopic(MemoryDeadLetterTopic):
    """Counts full reads; can fail as a broker that is away."""

    def __init__(self) -> None:
        super().__init__()
        self.scans = 0
        self.failing = False

    async def watermarks(self) -> dict[int, tuple[int, int]]:
        if self.failing:
            raise ConnectionError("no broker")
        return await super().watermarks()

    async def scan(self) -> list[DeadRecord]:
        self.scans += 1
        return await super().scan()


def _letter(topic: MemoryDeadLetterTopic, event_id: str) -> None:
    key, value = encode_event(Event(event_id, "m", T0, {}, {"n": "text"}))
    topic.dead_letter(key, value, reason="conflict", status="400", dead_lettered_ns="1")


def test_it_counts_what_the_list_shows() -> None:
    topic = MemoryDeadLetterTopic()
    _letter(topic, "a")
    _letter(topic, "b")
    _letter(topic, "a")  # refused twice, listed once
    topic.dead_letter(b"junk", b"not json", reason="not an event message")
    asyncio.run(topic.tombstone([b"b"], now_ns=2))
    listed = asyncio.run(DeadLetters(topic).list())
    assert [d.event.event_id for d in listed] == ["a"]
    assert count_pending(topic.records) == 1


def test_the_topic_is_read_again_only_when_its_watermarks_moved() -> None:
    topic = CountingTopic()
    count = DeadLetterCount(topic)

    async def scenario() -> list[int]:
        seen = [await count.refresh()]  # no topic yet: nothing read
        _letter(topic, "a")
        seen.append(await count.refresh())
        seen.append(await count.refresh())  # unchanged: not read again
        await DeadLetters(topic).replay()
        seen.append(await count.refresh())
        return seen

    assert asyncio.run(scenario()) == [0, 1, 1, 0]
    assert topic.scans == 3  # the count read it twice, the replay once


def test_a_poke_refreshes_soon_and_a_failure_keeps_the_last_count() -> None:
    topic = CountingTopic()
    count = DeadLetterCount(topic, interval_seconds=3600, min_gap_seconds=0.01)

    async def until(value: int) -> None:
        async with asyncio.timeout(5):
            for _ in iter(lambda: count.value, value):
                await asyncio.sleep(0.01)

    async def scenario() -> None:
        assert not count.known
        count.start()
        await count.first_attempt(5)
        assert count.known
        _letter(topic, "a")
        _letter(topic, "b")
        count.poke()
        await until(2)
        topic.failing = True
        await DeadLetters(topic).replay(["a"])
        count.poke()
        await asyncio.sleep(0.1)
        assert count.value == 2  # the brokers are away: the last count stands
        topic.failing = False
        count.poke()
        await until(1)
        await count.stop()

    asyncio.run(scenario())


def test_waiting_for_the_first_count_is_bounded() -> None:
    class Stuck(MemoryDeadLetterTopic):
        async def watermarks(self) -> dict[int, tuple[int, int]]:
            await asyncio.Event().wait()  # a broker that never answers
            return {}

    count = DeadLetterCount(Stuck())

    async def scenario() -> None:
        count.start()
        async with asyncio.timeout(2):  # fails the test if the wait is not bounded
            await count.first_attempt(0.05)
        assert not count.known
        assert count.value == 0
        await count.stop()

    asyncio.run(scenario())


def test_it_can_be_started_again_on_another_event_loop() -> None:
    topic = MemoryDeadLetterTopic()
    count = DeadLetterCount(topic, min_gap_seconds=0.01)

    async def once() -> int:
        count.start()
        await count.first_attempt(5)
        await count.stop()
        return count.value

    assert asyncio.run(once()) == 0
    _letter(topic, "a")
    assert asyncio.run(once()) == 1  # a new loop, e.g. the next `with TestClient(app)`
