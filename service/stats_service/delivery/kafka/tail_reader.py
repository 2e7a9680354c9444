"""The live stream's reader of the events topic: every partition, no group, no commits.

:class:`TopicTail` wraps one ``confluent_kafka.Consumer`` that never
subscribes: it assigns itself the topic's partitions (those there when it
opens at their end, any found later at their beginning) and so takes no part
in the forwarders' rebalances and commits no offset. Like the forwarder's
consumer it runs every librdkafka call on one thread of its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import uuid
from collections.abc import Callable
from typing import Any

from stats_service.delivery.kafka.config import KafkaConfig
from stats_service.delivery.kafka.consumer import Message

__all__ = ["TopicTail"]

_log = logging.getLogger(__name__)

_METADATA_SECONDS = 5.0


class TopicTail:
    """A :class:`~stats_service.delivery.kafka.tail.TailReader` on a real broker."""

    def __init__(self, config: KafkaConfig, *, member: str | None = None) -> None:
        self._config = config
        self._member = member or uuid.uuid4().hex[:12]
        self._consumer: Any = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._assigned: set[int] = set()
        self._refreshed = False

    async def _run(self, call: Callable[[], Any]) -> Any:
        if self._executor is None:
            raise RuntimeError("the tail is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def open(self) -> None:
        """Create the consumer (no network yet)."""
        if self._consumer is not None:
            return
        from confluent_kafka import Consumer  # noqa: PLC0415 - the optional extra

        self._executor = concurrent.futures.ThreadPoolExecutor(1, "stats-kafka-tail")
        config = self._config.tail_config(self._member)
        self._consumer = await self._run(lambda: Consumer(config, logger=_log))

    async def refresh(self) -> dict[int, int]:
        """Assign the partitions not read yet; ``partition -> first offset`` of the new ones."""
        return dict(await self._run(self._refresh))

    def _refresh(self) -> dict[int, int]:
        from confluent_kafka import TopicPartition  # noqa: PLC0415 - the optional extra

        first = not self._refreshed  # the first answer decides "at the end"
        topic_name = self._config.topic
        try:
            metadata = self._consumer.list_topics(topic_name, timeout=_METADATA_SECONDS)
        except Exception:  # noqa: BLE001 -- no broker now: try again at the next refresh
            _log.debug("no metadata for %s", topic_name, exc_info=True)
            return {}
        topic = metadata.topics.get(topic_name)
        if topic is None or topic.error is not None:
            self._refreshed = True
            return {}  # not created yet: whatever it gets later is new
        found: dict[int, int] = {}
        for partition in sorted(set(topic.partitions) - self._assigned):
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(topic_name, partition), timeout=_METADATA_SECONDS
            )
            found[partition] = high if first else low
        if found:
            self._consumer.incremental_assign(
                [TopicPartition(topic_name, p, offset) for p, offset in found.items()]
            )
            self._assigned.update(found)
        self._refreshed = True
        return found

    async def poll(self, max_messages: int, timeout_seconds: float) -> list[Message]:
        """Up to ``max_messages`` messages, waiting at most ``timeout_seconds``."""
        return list(await self._run(lambda: self._poll(max_messages, timeout_seconds)))

    def _poll(self, max_messages: int, timeout_seconds: float) -> list[Message]:
        out: list[Message] = []
        for message in self._consumer.consume(num_messages=max_messages, timeout=timeout_seconds):
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise RuntimeError(f"Kafka tail: {error}")
                continue
            out.append(
                Message(
                    message.partition(),
                    message.offset(),
                    message.key() or b"",
                    message.value() or b"",
                )
            )
        return out

    async def close(self) -> None:
        """Close the consumer and stop its thread."""
        consumer, self._consumer = self._consumer, None
        executor, self._executor = self._executor, None
        if consumer is not None and executor is not None:
            await asyncio.get_running_loop().run_in_executor(executor, consumer.close)
        if executor is not None:
            executor.shutdown(wait=False)
