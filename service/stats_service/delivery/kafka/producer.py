"""The API's producer: a batch of events is acknowledged by the brokers, or it fails.

:class:`EventProducer` wraps one ``confluent_kafka.Producer`` (acks from every
in-sync replica, idempotent, batched, compressed; see
:class:`~stats_service.delivery.kafka.config.KafkaConfig`). ``produce`` hands
every message of a batch to librdkafka and returns only when the broker has
acknowledged each of them; if any is refused, or the acknowledgements do not
arrive within the produce timeout, it raises
:class:`~stats_service.delivery.queue.QueueUnavailable` (503, ``Retry-After``)
and the client sends the batch again; a message that did land is then written
twice to the topic and once to InfluxDB (same id, same point).

A daemon thread serves librdkafka's delivery callbacks, resolving the
awaiting coroutine's future on its own loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from stats_service.delivery.kafka.config import KafkaConfig
from stats_service.delivery.queue import QueueUnavailable

__all__ = ["EventProducer"]

_log = logging.getLogger(__name__)

_RETRY_AFTER_SECONDS = 2
_POLL_SECONDS = 0.05

ProduceErrors = Callable[[str], None]
"""Told the kind of every failed produce (``timeout``, ``broker``, ``queue_full``)."""


class _Batch:
    """Counts the acknowledgements of one batch and wakes its awaiter at the last."""

    __slots__ = ("error", "future", "lock", "loop", "remaining")

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.remaining = count
        self.error: str | None = None
        self.lock = threading.Lock()

    def acknowledged(self, err: Any, _msg: Any) -> None:
        """librdkafka's delivery callback (on the poll thread)."""
        with self.lock:
            if err is not None and self.error is None:
                self.error = str(err)
            self.remaining -= 1
            last = self.remaining == 0
        if last:
            self.loop.call_soon_threadsafe(self._finish)

    def _finish(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


class EventProducer:
    """Produces keyed messages to one topic and awaits their acknowledgement."""

    def __init__(self, config: KafkaConfig, *, on_error: ProduceErrors | None = None) -> None:
        self._config = config
        self._on_error = on_error or (lambda _kind: None)
        self._producer: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def started(self) -> bool:
        """Whether the producer is open."""
        return self._producer is not None

    def start(self) -> None:
        """Create the librdkafka producer and its poll thread (no network yet)."""
        if self._producer is not None:
            return
        from confluent_kafka import Producer  # noqa: PLC0415 - the optional extra

        self._producer = Producer(self._config.producer_config(), logger=_log)
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="stats-kafka-produce", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        producer = self._producer
        while not self._stop.is_set():
            producer.poll(_POLL_SECONDS)

    async def produce(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """Send ``messages`` (key, value); return once the broker acknowledged every one."""
        await self.produce_with_headers(topic, [(k, v, None) for k, v in messages])

    async def produce_with_headers(
        self,
        topic: str,
        messages: Sequence[tuple[bytes, bytes | None, list[tuple[str, bytes]] | None]],
    ) -> None:
        """:meth:`produce` with per-message headers (a value None is a tombstone)."""
        producer = self._producer
        if producer is None:
            raise QueueUnavailable("the Kafka producer is not open")
        if not messages:
            return
        batch = _Batch(asyncio.get_running_loop(), len(messages))
        for index, (key, value, headers) in enumerate(messages):
            try:
                producer.produce(topic, value, key, headers=headers, on_delivery=batch.acknowledged)
            except BufferError:
                # librdkafka's local queue is full: what was handed over still
                # completes; the rest of the batch is refused as a whole.
                self._abandon(batch, len(messages) - index)
                self._on_error("queue_full")
                await self._settle(batch)
                raise QueueUnavailable(
                    "the Kafka producer queue is full", retry_after_seconds=_RETRY_AFTER_SECONDS
                ) from None
            except Exception as exc:  # noqa: BLE001 - any refusal is a 503 and a retry
                self._abandon(batch, len(messages) - index)
                self._on_error("broker")
                await self._settle(batch)
                raise QueueUnavailable(
                    f"Kafka refused the event: {exc}", retry_after_seconds=_RETRY_AFTER_SECONDS
                ) from None
        await self._settle(batch)
        if batch.error is not None:
            self._on_error("timeout" if "timed out" in batch.error.lower() else "broker")
            raise QueueUnavailable(
                f"Kafka did not acknowledge the events: {batch.error}",
                retry_after_seconds=_RETRY_AFTER_SECONDS,
            )

    def _abandon(self, batch: _Batch, count: int) -> None:
        for _ in range(count):
            batch.acknowledged("not sent", None)

    async def _settle(self, batch: _Batch) -> None:
        # librdkafka reports every message by message.timeout.ms; the margin is for the thread.
        timeout = self._config.produce_timeout_seconds + 5.0
        try:
            await asyncio.wait_for(asyncio.shield(batch.future), timeout)
        except TimeoutError:
            batch.error = batch.error or "acknowledgements timed out"

    def stop(self, timeout_seconds: float = 10.0) -> bool:
        """Flush what is in flight (bounded), stop the thread; False if messages remain."""
        producer, self._producer = self._producer, None
        if producer is None:
            return True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_seconds)
            self._thread = None
        remaining: int = producer.flush(timeout_seconds)
        return remaining == 0

    def reachable(self, timeout_seconds: float = 2.0) -> bool:
        """Whether a broker answers a metadata request for the topic now (blocking)."""
        producer = self._producer
        if producer is None:
            return False
        try:
            producer.list_topics(self._config.topic, timeout=timeout_seconds)
        except Exception:  # noqa: BLE001 -- unreachable is the answer
            return False
        return True
