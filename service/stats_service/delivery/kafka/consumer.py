"""The forwarder's consumer: a consumer-group member that polls and commits on request.

:class:`EventConsumer` wraps one ``confluent_kafka.Consumer``. librdkafka's
consumer is not safe to use from several threads, so every call runs on one
worker thread of its own (``poll``, ``commit``, lag), one at a time, awaited
from the event loop. Offsets are committed only when told to (after the
backend stored the events); nothing is committed automatically.

A poll never loses what it consumed. librdkafka's position moves past every
message ``consume`` returns, and a commit past a later offset would skip the
earlier ones for good, so consumed messages are kept in a buffer until a
``poll`` returns them to a caller that is still there: when the awaiting
caller is cancelled (the forwarder drops its read-ahead batch after a failed
write or a refused commit), the next ``poll`` returns them first.

Rebalances happen inside ``poll``: revoked (or lost) partitions are reported
to the ``on_revoke`` callback (the queue drops the entries it handed out from
them; whoever holds them next reads them again from the last committed
offset), their buffered messages are dropped, and a commit is filtered to the
partitions librdkafka says are still assigned, so a late settlement never
moves another member's offset. A partition assigned again starts from its
committed offset (the assignment carries no offset of its own).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from stats_service.delivery.kafka.config import KafkaConfig
from stats_service.delivery.queue import QueueUnavailable

__all__ = ["EventConsumer", "GroupConsumer", "Message"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Message:
    """One consumed message: where it is, and its key and value."""

    partition: int
    offset: int
    key: bytes
    value: bytes


class GroupConsumer(Protocol):
    """What the Kafka queue needs of a consumer-group member (real: :class:`EventConsumer`)."""

    async def start(self) -> None:
        """Join the group (lazily, in the first poll)."""
        ...

    async def poll(self, max_messages: int, timeout_seconds: float) -> list[Message]:
        """Up to ``max_messages`` messages of the partitions held; a cancelled poll loses none."""
        ...

    async def commit(self, next_offsets: Mapping[int, int]) -> int:
        """Commit ``partition -> next offset`` for the partitions still held; how many."""
        ...

    async def lag(self) -> dict[int, int]:
        """Messages behind the high watermark per held partition."""
        ...

    async def stop(self) -> None:
        """Leave the group."""
        ...


class EventConsumer:
    """One member of the forwarders' group on one topic."""

    def __init__(
        self,
        config: KafkaConfig,
        *,
        on_revoke: Callable[[set[int]], None] | None = None,
    ) -> None:
        self._config = config
        self._on_revoke = on_revoke or (lambda _partitions: None)
        self._consumer: Any = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._unclaimed: list[Message] = []  # consumed, not yet returned by a poll
        self._unclaimed_lock = threading.Lock()

    def _held(self) -> set[int]:
        """The partitions librdkafka says this member holds now (on the consumer thread)."""
        return {tp.partition for tp in self._consumer.assignment()}

    async def start(self) -> None:
        """Create the consumer and subscribe (the group join happens in the first poll)."""
        if self._consumer is not None:
            return
        from confluent_kafka import Consumer  # noqa: PLC0415 - the optional extra

        self._executor = concurrent.futures.ThreadPoolExecutor(1, "stats-kafka-consume")
        self._consumer = await self._run(
            lambda: Consumer(self._config.consumer_config(), logger=_log)
        )
        await self._run(
            lambda: self._consumer.subscribe(
                [self._config.topic],
                on_assign=self._assign,
                on_revoke=self._revoke,
                on_lost=self._revoke,
            )
        )

    def _assign(self, _consumer: Any, partitions: list[Any]) -> None:
        _log.info("assigned partitions %s", sorted(p.partition for p in partitions))

    def _revoke(self, _consumer: Any, partitions: list[Any]) -> None:
        revoked = {p.partition for p in partitions}
        _log.info("partitions %s revoked; their unsettled entries are abandoned", sorted(revoked))
        with self._unclaimed_lock:
            self._unclaimed = [m for m in self._unclaimed if m.partition not in revoked]
        self._on_revoke(revoked)

    async def _run(self, call: Callable[[], Any]) -> Any:
        if self._executor is None:
            raise RuntimeError("the consumer is not started")
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def poll(self, max_messages: int, timeout_seconds: float) -> list[Message]:
        """Up to ``max_messages`` messages, waiting at most ``timeout_seconds`` for the first.

        Messages a cancelled poll consumed come first (see the module docstring).
        """
        if not self._has_unclaimed():
            await self._run(lambda: self._fetch(max_messages, timeout_seconds))
        # From here to the return nothing awaits: a caller that gets here gets them.
        with self._unclaimed_lock:
            claimed = self._unclaimed[:max_messages]
            del self._unclaimed[:max_messages]
        return claimed

    def _has_unclaimed(self) -> bool:
        with self._unclaimed_lock:
            return bool(self._unclaimed)

    def _fetch(self, max_messages: int, timeout_seconds: float) -> None:
        """Consume into the buffer (on the consumer thread), unless it holds messages already."""
        if self._has_unclaimed():
            return  # a poll queued behind a cancelled one: hand those out first
        raw = self._consumer.consume(num_messages=max_messages, timeout=timeout_seconds)
        fresh: list[Message] = []
        held = self._held() if raw else set()
        for message in raw:
            error = message.error()
            if error is not None:
                if not error.retriable() and error.fatal():
                    raise RuntimeError(f"Kafka consumer: {error}")
                _log.debug("consumer: %s", error)
                continue
            partition = message.partition()
            if partition not in held:
                continue  # fetched before a revoke; the new owner reads it
            fresh.append(
                Message(partition, message.offset(), message.key() or b"", message.value() or b"")
            )
        with self._unclaimed_lock:
            self._unclaimed.extend(fresh)

    async def commit(self, next_offsets: Mapping[int, int]) -> int:
        """Commit ``partition -> next offset to read`` for the partitions still held; how many.

        A refused commit raises :class:`~stats_service.delivery.queue.QueueUnavailable`.
        """
        return int(await self._run(lambda: self._commit(next_offsets)))

    def _commit(self, next_offsets: Mapping[int, int]) -> int:
        from confluent_kafka import KafkaException, TopicPartition  # noqa: PLC0415 - the extra

        assigned = self._held()
        held = [
            TopicPartition(self._config.topic, partition, offset)
            for partition, offset in next_offsets.items()
            if partition in assigned
        ]
        if held:
            try:
                self._consumer.commit(offsets=held, asynchronous=False)
            except KafkaException as exc:
                # Refused during a rebalance (ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS) or
                # no coordinator now: the settled entries stay in hand and are written again.
                raise QueueUnavailable(f"the offset commit failed: {exc.args[0]}") from None
        return len(held)

    async def lag(self) -> dict[int, int]:
        """Messages behind the high watermark, per held partition (from cached fetch data)."""
        return dict(await self._run(self._lag))

    def _lag(self) -> dict[int, int]:
        from confluent_kafka import TopicPartition  # noqa: PLC0415 - the optional extra

        lags: dict[int, int] = {}
        partitions = [TopicPartition(self._config.topic, p) for p in sorted(self._held())]
        if not partitions:
            return lags
        for position in self._consumer.position(partitions):
            _low, high = self._consumer.get_watermark_offsets(position, cached=True)
            if high < 0:
                continue
            current = position.offset if position.offset >= 0 else high
            lags[position.partition] = max(0, high - current)
        return lags

    async def stop(self) -> None:
        """Leave the group (its partitions go to the other members) and stop the thread."""
        consumer, self._consumer = self._consumer, None
        executor, self._executor = self._executor, None
        with self._unclaimed_lock:
            self._unclaimed.clear()  # never committed: the partitions' next owners read them
        if consumer is not None and executor is not None:
            await asyncio.get_running_loop().run_in_executor(executor, consumer.close)
        if executor is not None:
            executor.shutdown(wait=False)
