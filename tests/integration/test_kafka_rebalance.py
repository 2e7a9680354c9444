"""What a forwarding member consumed is never skipped: cancelled reads, rebalances, failed commits.

Against a real broker, in this process. The forwarder drops its read-ahead
batch (cancels a ``next_batch`` that may be inside a poll) whenever a write or
a settlement fails, for example when an offset commit is refused with
``ILLEGAL_GENERATION`` during a rebalance. Whatever that poll consumed must be
handed out later, and no commit may move past it; a member joining the group
between a poll and a commit must not make any event go missing either.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import pytest
from kafka_broker import KafkaBroker

from stats_service.delivery.backoff import Backoff
from stats_service.delivery.config import DeliveryConfig
from stats_service.delivery.forwarder import Forwarder
from stats_service.delivery.kafka import KafkaConfig, KafkaQueue
from stats_service.errors import ServiceUnavailable
from stats_service.events.model import Event

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

T = TypeVar("T")
T0 = 1_763_850_000_000_000_000
BIG = 1 << 24


def run(scenario: Callable[[], Awaitable[T]], timeout_seconds: float = 90) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), timeout_seconds)

    return asyncio.run(bounded())


def config(broker: KafkaBroker, topic: str) -> KafkaConfig:
    return KafkaConfig(
        bootstrap_servers=broker.bootstrap_servers,
        topic=topic,
        dead_letter_topic=f"{topic}-dead",
        group=f"{topic}-group",
        produce_timeout_seconds=5.0,
    )


def events(count: int, *, start: int = 0) -> list[Event]:
    run_id = uuid.uuid4().hex[:8]
    return [
        Event(
            event_id=f"{run_id}-{number:06d}",
            measurement="analytics",
            time_ns=T0 + number * 1_000_000,
            tags={"event": "rebalance"},
            fields={"n": number},
        )
        for number in range(start, start + count)
    ]


async def produce(cfg: KafkaConfig, batch: Sequence[Event]) -> None:
    producer = KafkaQueue(cfg)
    await producer.start()
    try:
        await producer.append(batch)
    finally:
        await producer.stop()


async def drain(queue: KafkaQueue, want: set[str], seconds: float) -> set[str]:
    """Hand out and settle until every id of ``want`` was seen, or ``seconds`` pass."""
    seen: set[str] = set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not want <= seen and loop.time() < deadline:
        entries = await queue.next_batch(1000, BIG, after_seq=0)
        seen.update(entry.event.event_id for entry in entries)
        if entries:
            await queue.settle(entries)
    return seen


def test_a_read_cancelled_inside_its_poll_loses_nothing(
    kafka_broker: KafkaBroker, kafka_topic: str
) -> None:
    cfg = config(kafka_broker, kafka_topic)
    first, middle, last = events(100), events(200, start=100), events(100, start=300)

    async def scenario() -> tuple[set[str], set[str]]:
        await produce(cfg, first)
        producer = KafkaQueue(cfg)
        await producer.start()
        member = KafkaQueue(cfg, role="forward")
        await member.start()
        try:
            assert await drain(member, {e.event_id for e in first}, 30) >= {
                e.event_id for e in first
            }
            await producer.append(events(1))  # the producer is connected: appends are quick
            await drain(member, set(), 0)
            # Nothing is left to read: this poll waits in the consumer's thread...
            read_ahead = asyncio.ensure_future(member.next_batch(1000, BIG, after_seq=0))
            await asyncio.sleep(0.05)
            read_ahead.cancel()  # ...and is dropped, as the forwarder drops its read-ahead
            await asyncio.gather(read_ahead, return_exceptions=True)
            await producer.append(middle)  # arrives while that poll still runs
            await asyncio.sleep(1.0)  # the poll ends; its caller is gone
            await producer.append(last)
            want = {e.event_id for e in middle + last}
            seen = await drain(member, want, 10)
        finally:
            await member.stop()
            await producer.stop()
        # Whatever was committed, a new member finds every event not handed out.
        successor = KafkaQueue(cfg, role="forward")
        await successor.start()
        try:
            after = await drain(successor, want - seen, 10)
        finally:
            await successor.stop()
        return seen, after

    seen, after = run(scenario)
    missing = {e.event_id for e in middle + last} - seen - after
    assert not missing, f"{len(missing)} consumed events were skipped for good"
    assert seen >= {e.event_id for e in middle + last}, "the member skipped its own messages"


class _Recording:
    """A backend that keeps what it stored and refuses every ``refuse_every``-th write
    (an outage: the forwarder drops its read-ahead, backs off and writes the batch again)."""

    def __init__(self, refuse_every: int) -> None:
        self.stored: list[str] = []
        self.refuse_every = refuse_every
        self.writes = 0

    async def open(self) -> None:
        pass

    async def write(self, batch: Sequence[Event]) -> None:
        await asyncio.sleep(0.02)
        self.writes += 1
        if self.writes % self.refuse_every == 0:
            raise ServiceUnavailable("the backend is away")
        self.stored.extend(event.event_id for event in batch)


def test_the_group_stores_everything_through_a_join_and_refused_writes(
    kafka_broker: KafkaBroker, kafka_topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config(kafka_broker, kafka_topic)
    batch = events(6000)
    want = {e.event_id for e in batch}

    async def scenario() -> tuple[list[str], list[str]]:
        producer = KafkaQueue(cfg)
        await producer.start()
        backends = [_Recording(refuse_every=4), _Recording(refuse_every=5)]
        queues = [KafkaQueue(cfg, role="forward"), KafkaQueue(cfg, role="forward")]
        forwarders = [
            Forwarder(queue, backend, config=_delivery())
            for queue, backend in zip(queues, backends, strict=True)
        ]
        try:
            await queues[0].start()
            forwarders[0].start()
            for number, start in enumerate(range(0, len(batch), 100)):
                if number == 20:  # a member joins while the first has batches in flight
                    await queues[1].start()
                    forwarders[1].start()
                await producer.append(batch[start : start + 100])
                await asyncio.sleep(0.03)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while not want <= set(backends[0].stored) | set(backends[1].stored):
                if loop.time() > deadline:
                    break  # the assertions below say what is missing
                await asyncio.sleep(0.2)
        finally:
            for forwarder in forwarders:
                await forwarder.stop()
            for queue in (*queues, producer):
                await queue.stop()
        return backends[0].stored, backends[1].stored

    stored_first, stored_second = run(scenario)
    missing = want - set(stored_first) - set(stored_second)
    assert not missing, f"{len(missing)} events were never stored"
    assert set(stored_first) | set(stored_second) == want
    assert stored_second, "the member that joined never got a partition"
    # A commit refused during the rebalance is a retry (a warning), not a forwarder error.
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors


def _delivery() -> DeliveryConfig:
    return DeliveryConfig(
        batch_max_events=200,
        linger_seconds=0.02,
        poll_interval_seconds=0.05,
        backoff=Backoff(initial_seconds=0.05, max_seconds=0.2),
    )
