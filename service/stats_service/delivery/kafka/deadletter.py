"""The dead-letter topic: refused events with the backend's reason, and reading them back.

A rejected event is produced to the dead-letter topic (same key, same value)
with headers ``reason``, ``status`` (the backend's HTTP status, empty when
it never reached it), ``source`` (``topic/partition/offset``) and
``dead_lettered_ns``, and acknowledged before the main topic's offset is
committed: the partition moves on and the event is kept.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from stats_service.delivery.kafka.codec import decode_event
from stats_service.delivery.kafka.config import KafkaConfig
from stats_service.delivery.kafka.producer import EventProducer
from stats_service.delivery.queue import DeadLetter, QueueUnavailable

__all__ = ["dead_letter_messages", "read_dead_letters", "send_dead_letters"]

DeadLetterMessage = tuple[bytes, bytes, list[tuple[str, bytes]]]


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


def _read(config: KafkaConfig, limit: int, timeout_seconds: float) -> list[DeadLetter]:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition  # noqa: PLC0415

    consumer = Consumer(
        {**config.consumer_config(), "group.id": f"{config.group}-deadletter-reader"}
    )
    try:
        metadata = consumer.list_topics(config.dead_letter_topic, timeout=timeout_seconds)
        topic = metadata.topics.get(config.dead_letter_topic)
        if topic is None or topic.error is not None:
            return []
        topic_name = config.dead_letter_topic
        consumer.assign([TopicPartition(topic_name, p, OFFSET_BEGINNING) for p in topic.partitions])
        out: list[DeadLetter] = []
        deadline = time.monotonic() + timeout_seconds
        while len(out) < limit and time.monotonic() < deadline:
            batch = consumer.consume(num_messages=limit - len(out), timeout=0.5)
            if not batch and out:
                break
            for message in batch:
                if message.error() is not None:
                    continue
                headers = _headers(message)
                event = decode_event(message.key() or b"", message.value() or b"")
                status = headers.get("status", "")
                _kind, stamp = message.timestamp()
                out.append(
                    DeadLetter(
                        event=event,
                        reason=headers.get("reason", ""),
                        status=int(status) if status.isdigit() else None,
                        accepted_ns=max(0, stamp) * 1_000_000,
                        dead_lettered_ns=int(headers.get("dead_lettered_ns", "0") or 0),
                    )
                )
        return out
    finally:
        consumer.close()


async def read_dead_letters(
    config: KafkaConfig, limit: int = 100, timeout_seconds: float = 5.0
) -> list[DeadLetter]:
    """The first ``limit`` dead letters of the topic (a reader outside the group)."""
    try:
        return await asyncio.to_thread(_read, config, limit, timeout_seconds)
    except Exception as exc:  # noqa: BLE001 -- any client error: the brokers are not there
        raise QueueUnavailable(f"the dead-letter topic cannot be read: {exc}") from None
