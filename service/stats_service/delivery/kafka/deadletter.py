"""The dead-letter topic: refused events with the backend's reason, and reading them back.

A rejected event is produced to the dead-letter topic (same key, same value)
with headers ``reason``, ``status`` (the backend's HTTP status, empty when
it never reached it), ``source`` (``topic/partition/offset``) and
``dead_lettered_ns``, and acknowledged before the main topic's offset is
committed: the partition moves on and the event is kept.

:class:`KafkaDeadLetterTopic` reads the topic back (from its start to its
end, outside any group), tells its watermarks (for the count of
:mod:`.deadcount`) and writes the tombstones of replayed letters; what
they mean is in :mod:`.replay`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Any

from stats_service.delivery.kafka.config import KafkaConfig
from stats_service.delivery.kafka.deadcount import Watermarks
from stats_service.delivery.kafka.producer import EventProducer
from stats_service.delivery.kafka.replay import REPLAYED_HEADER, DeadRecord
from stats_service.delivery.queue import QueueUnavailable

__all__ = ["KafkaDeadLetterTopic", "dead_letter_messages", "send_dead_letters"]

DeadLetterMessage = tuple[bytes, bytes, list[tuple[str, bytes]]]
_WATERMARK_SECONDS = 2.0


def dead_letter_messages(
    rejected: Sequence[tuple[bytes, bytes, str, int | None, str]], *, now_ns: int
) -> list[DeadLetterMessage]:
    """Messages for ``(key, value, reason, status, source)`` rejections."""
    return [
        (
            key,
            value,
            [
                ("reason", reason.encode("utf-8", "replace")),
                ("status", b"" if status is None else str(status).encode()),
                ("source", source.encode()),
                ("dead_lettered_ns", str(now_ns).encode()),
            ],
        )
        for key, value, reason, status, source in rejected
    ]


async def send_dead_letters(
    producer: EventProducer, config: KafkaConfig, messages: Sequence[DeadLetterMessage]
) -> None:
    """Produce ``messages`` to the dead-letter topic and await their acknowledgement."""
    await producer.produce_with_headers(config.dead_letter_topic, messages)


def _headers(message: Any) -> dict[str, str]:
    return {k: (v or b"").decode("utf-8", "replace") for k, v in message.headers() or []}


def _reader(config: KafkaConfig) -> Any:
    from confluent_kafka import Consumer  # noqa: PLC0415 - the optional extra

    return Consumer(config.tail_config(f"deadletters-{uuid.uuid4().hex[:12]}"))


def _read_watermarks(consumer: Any, name: str, timeout_seconds: float) -> Watermarks:
    from confluent_kafka import TopicPartition  # noqa: PLC0415 - the optional extra

    topic = consumer.list_topics(name, timeout=timeout_seconds).topics.get(name)
    if topic is None or topic.error is not None:
        return {}  # nothing was ever dead-lettered
    marks: Watermarks = {}
    for partition in sorted(topic.partitions):
        low, high = consumer.get_watermark_offsets(
            TopicPartition(name, partition), timeout=timeout_seconds
        )
        marks[partition] = (low, high)
    return marks


def _watermarks(config: KafkaConfig, timeout_seconds: float) -> Watermarks:
    consumer = _reader(config)
    try:
        return _read_watermarks(consumer, config.dead_letter_topic, timeout_seconds)
    finally:
        consumer.close()


def _scan(config: KafkaConfig, timeout_seconds: float) -> list[DeadRecord]:
    from confluent_kafka import TopicPartition  # noqa: PLC0415 - the optional extra

    consumer = _reader(config)
    try:
        name = config.dead_letter_topic
        ends: dict[int, int] = {}
        starts = []
        for partition, (low, high) in _read_watermarks(consumer, name, timeout_seconds).items():
            if high > low:
                ends[partition] = high
                starts.append(TopicPartition(name, partition, low))
        if not starts:
            return []
        consumer.assign(starts)
        records: list[DeadRecord] = []
        deadline = time.monotonic() + timeout_seconds
        while ends:
            if time.monotonic() > deadline:
                raise QueueUnavailable("the dead-letter topic was not read to its end in time")
            for message in consumer.consume(num_messages=500, timeout=0.5):
                if message.error() is not None:
                    continue
                partition, offset = message.partition(), message.offset()
                if partition is None or offset is None or offset >= ends.get(partition, 0):
                    continue  # written after the scan began
                _kind, stamp = message.timestamp()
                records.append(
                    DeadRecord(
                        partition,
                        offset,
                        message.key() or b"",
                        message.value(),
                        _headers(message),
                        max(0, stamp),
                    )
                )
            for position in consumer.position([TopicPartition(name, p) for p in list(ends)]):
                if position.offset >= ends[position.partition]:
                    del ends[position.partition]
        return records
    finally:
        consumer.close()


class KafkaDeadLetterTopic:
    """The :class:`~stats_service.delivery.kafka.replay.DeadLetterTopic` on the brokers."""

    def __init__(
        self, config: KafkaConfig, producer: EventProducer, *, timeout_seconds: float = 30.0
    ) -> None:
        self._config = config
        self._producer = producer
        self._timeout = timeout_seconds

    async def watermarks(self) -> Watermarks:
        """The dead-letter topic's low and high offsets per partition (its size, cheaply)."""
        try:
            return await asyncio.to_thread(_watermarks, self._config, _WATERMARK_SECONDS)
        except Exception as exc:  # noqa: BLE001 -- any client error: the brokers are not there
            raise QueueUnavailable(f"the dead-letter topic cannot be read: {exc}") from None

    async def scan(self) -> list[DeadRecord]:
        """Every record of the dead-letter topic up to its end now (a reader in no group)."""
        try:
            return await asyncio.to_thread(_scan, self._config, self._timeout)
        except QueueUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 -- any client error: the brokers are not there
            raise QueueUnavailable(f"the dead-letter topic cannot be read: {exc}") from None

    async def produce_events(self, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """Produce the letters' messages to the events topic (acknowledged)."""
        await self._producer.produce(self._config.topic, messages)

    async def tombstone(self, keys: Sequence[bytes], now_ns: int) -> None:
        """Mark ``keys`` replayed: a record without a value per key (acknowledged)."""
        stamp = [(REPLAYED_HEADER, str(now_ns).encode())]
        await self._producer.produce_with_headers(
            self._config.dead_letter_topic, [(key, None, stamp) for key in keys]
        )
