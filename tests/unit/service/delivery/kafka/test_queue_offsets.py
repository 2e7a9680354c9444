"""The Kafka queue's bookkeeping with an in-memory group member: what is committed when."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import pytest

from stats_service.delivery.kafka import KafkaConfig, KafkaQueue
from stats_service.delivery.kafka.codec import encode_event
from stats_service.delivery.kafka.consumer import Message
from stats_service.events.model import Event

T0 = 1_763_850_000_000_000_000


class MemoryMember:
    """Serves messages of partitions 0 and 1; records commits; can fail or revoke."""

    def __init__(self, on_revoke: Callable[[set[int]], None], per_partition: int = 5) -> None:
        self.on_revoke = on_revoke
        self.queue: list[Message] = []
        for offset in range(per_partition):
            for partition in (0, 1):
                key, value = encode_event(
                    Event(f"p{partition}-{offset}", "m", T0 + offset, {}, {"n": offset})
                )
                self.queue.append(Message(partition, offset, key, value))
        self.commits: list[dict[int, int]] = []
        self.fail_next_commit = False
        self.revoke_on_poll: set[int] = set()

    async def start(self) -> None:
        pass

    async def poll(self, max_messages: int, timeout_seconds: float) -> list[Message]:
        if self.revoke_on_poll:
            revoked, self.revoke_on_poll = self.revoke_on_poll, set()
            self.on_revoke(revoked)
            self.queue = [m for m in self.queue if m.partition not in revoked]
        batch, self.queue = self.queue[:max_messages], self.queue[max_messages:]
        return batch

    async def commit(self, next_offsets: Mapping[int, int]) -> int:
        if self.fail_next_commit:
            self.fail_next_commit = False
            raise RuntimeError("ILLEGAL_GENERATION")
        self.commits.append(dict(next_offsets))
        return len(next_offsets)

    async def lag(self) -> dict[int, int]:
        return {}

    async def stop(self) -> None:
        pass


def _queue() -> tuple[KafkaQueue, list[MemoryMember]]:
    members: list[MemoryMember] = []

    def make(on_revoke: Callable[[set[int]], None]) -> MemoryMember:
        members.append(MemoryMember(on_revoke))
        return members[-1]

    return KafkaQueue(KafkaConfig(), role="forward", consumer=make), members


def test_a_failed_commit_hands_the_same_entries_out_again() -> None:
    queue, (member,) = _queue()

    async def scenario() -> None:
        first = await queue.next_batch(4, 1 << 20)
        member.fail_next_commit = True
        with pytest.raises(RuntimeError):
            await queue.settle(first)
        again = await queue.next_batch(4, 1 << 20, after_seq=0)
        assert [e.event.event_id for e in again] == [e.event.event_id for e in first]
        await queue.settle(again)

    asyncio.run(scenario())
    assert member.commits == [{0: 2, 1: 2}]


def test_a_commit_never_passes_an_entry_still_in_flight() -> None:
    queue, (member,) = _queue()

    async def scenario() -> None:
        entries = await queue.next_batch(10, 1 << 20)
        later = [e for e in entries if e.event.event_id.endswith(("-3", "-4"))]
        earlier = [e for e in entries if e not in later]
        await queue.settle(later)  # out of order: offsets 0-2 are not stored yet
        await queue.settle(earlier)

    asyncio.run(scenario())
    assert member.commits == [{0: 0, 1: 0}, {0: 5, 1: 5}]


def test_entries_of_a_revoked_partition_are_dropped_and_not_committed() -> None:
    queue, (member,) = _queue()

    async def scenario() -> list[str]:
        handed = await queue.next_batch(4, 1 << 20)
        member.revoke_on_poll = {1}
        await queue.next_batch(4, 1 << 20, after_seq=handed[-1].seq)
        again = await queue.next_batch(10, 1 << 20, after_seq=0)
        await queue.settle(handed)
        return [e.event.event_id for e in again]

    ids = asyncio.run(scenario())
    assert all(i.startswith("p0-") for i in ids)
    assert member.commits == [{0: 2}]


def test_an_api_replica_has_no_consumer_and_never_forwards() -> None:
    queue = KafkaQueue(KafkaConfig())
    assert not queue.forwarding_lease().try_acquire()
    with pytest.raises(Exception, match="produces only"):
        asyncio.run(queue.next_batch(1, 1))


def test_a_message_that_is_no_event_holds_its_offset_until_its_dead_letter_is_sent() -> None:
    queue, (member,) = _queue()
    member.queue[2] = Message(0, 1, b"p0-1", b"not an event")  # partition 0, offset 1
    sent: list[int] = []
    attempts = [0]

    async def produce_with_headers(topic: str, messages: list[object]) -> None:
        attempts[0] += 1
        if attempts[0] == 1:
            raise RuntimeError("dead-letter topic unavailable")
        sent.append(len(messages))

    queue._producer.produce_with_headers = produce_with_headers  # type: ignore[method-assign]

    async def scenario() -> None:
        with pytest.raises(RuntimeError, match="unavailable"):
            await queue.next_batch(4, 1 << 20)  # offsets 0-1 of both partitions
        handed = await queue.next_batch(3, 1 << 20)  # the three events, handed out again
        await queue.settle(handed)
        assert member.commits[-1] == {0: 1, 1: 2}, "the commit must stop at the undelivered one"
        later = await queue.next_batch(2, 1 << 20, after_seq=handed[-1].seq)  # sends it now
        assert sent == [1]
        assert member.commits[-1] == {0: 2}
        await queue.settle(later)

    asyncio.run(scenario())
    assert member.commits[-1] == {0: 3, 1: 3}
