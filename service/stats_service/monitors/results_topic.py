"""Check results over Kafka: checkers produce, a consumer group of aggregators applies.

With ``kafka_monitor_results_topic`` set, a process that runs checks does
not write results to the monitor store itself: :class:`TopicResultRecorder`
produces each result to that topic (key: the monitor id, so one monitor's
results stay in order in one partition; value: the result's row as JSON)
and returns once the brokers acknowledged it. ``stats-service
monitor-aggregate`` runs a :class:`ResultAggregator`, a member of the
``kafka_monitor_aggregator_group`` consumer group that applies what it reads
with the store's ``record_results`` (raw row, minute and hour rollups, up/down
state) and commits the offsets only after that.

Why a redelivery (a crash before the commit, a rebalance) never double
counts: every store applies a result only when its id is new, in the same
transaction as its rollups, so applying a result again is a no-op; the
rollups are upserted exactly once per result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

import orjson

from stats_service.delivery.kafka.consumer import GroupConsumer, Message
from stats_service.delivery.kafka.producer import EventProducer
from stats_service.monitors.codec import result_from_row, result_row
from stats_service.monitors.model import CheckResult

__all__ = [
    "ResultAggregator",
    "ResultRecorder",
    "ResultsApplier",
    "TopicResultRecorder",
    "decode_result",
    "encode_result",
]

_log = logging.getLogger(__name__)

_POLL_MESSAGES = 500
_POLL_SECONDS = 0.5
_RETRY_SECONDS = 1.0


class ResultRecorder(Protocol):
    """Where the monitor service records results (the store itself, or the topic)."""

    async def record_results(self, results: Sequence[CheckResult]) -> int:
        """Record ``results``; how many were new (or handed on)."""
        ...


class ResultsApplier(Protocol):
    """What the aggregator needs of the monitor store."""

    async def record_results(self, results: Sequence[CheckResult]) -> int:
        """Apply results whose ids are new; how many were applied."""
        ...


def encode_result(result: CheckResult) -> tuple[bytes, bytes]:
    """``(key, value)``: the monitor id, and the result's row as JSON."""
    return result.monitor_id.encode("utf-8"), orjson.dumps(result_row(result))


def decode_result(value: bytes) -> CheckResult:
    """The result a message holds (``ValueError`` when it is not one)."""
    try:
        row = orjson.loads(value)
        return result_from_row(row)
    except (orjson.JSONDecodeError, TypeError, ValueError, IndexError, KeyError) as exc:
        raise ValueError(f"not a check result message: {exc}") from None


class TopicResultRecorder:
    """A :class:`ResultRecorder` that produces results to the results topic."""

    def __init__(self, producer: EventProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    async def record_results(self, results: Sequence[CheckResult]) -> int:
        """Produce ``results``; return once acknowledged (``QueueUnavailable`` if not)."""
        await self._producer.produce(self._topic, [encode_result(r) for r in results])
        return len(results)


class ResultAggregator:
    """One member of the aggregators' group: apply what is consumed, then commit."""

    def __init__(self, consumer: GroupConsumer, store: ResultsApplier) -> None:
        self._consumer = consumer
        self._store = store
        self.applied = 0
        """Results applied by this member (new ids only)."""
        self.skipped = 0
        """Messages that were no results (logged and passed over)."""
        self._pending: list[Message] = []  # read, not committed yet: retried first
        self._results: list[CheckResult] = []  # the results among them

    async def start(self) -> None:
        """Join the group."""
        await self._consumer.start()

    async def stop(self) -> None:
        """Leave the group."""
        await self._consumer.stop()

    async def step(self, timeout_seconds: float = _POLL_SECONDS) -> int:
        """Poll once, apply the batch, commit past it; how many messages were read. A batch
        whose apply or commit failed is applied again by the next step (a no-op for
        what was applied), so nothing is committed that was not applied."""
        if not self._pending:
            self._pending = await self._consumer.poll(_POLL_MESSAGES, timeout_seconds)
            self._results = self._decode(self._pending)
        messages, results = self._pending, self._results
        if not messages:
            return 0
        if results:
            self.applied += await self._store.record_results(results)
        await self._consumer.commit(_next_offsets(messages))
        self._pending, self._results = [], []
        return len(messages)

    def _decode(self, messages: Sequence[Message]) -> list[CheckResult]:
        results: list[CheckResult] = []
        for message in messages:
            try:
                results.append(decode_result(message.value))
            except ValueError as exc:
                self.skipped += 1
                _log.warning("skipping %s/%s: %s", message.partition, message.offset, exc)
        return results

    async def run(self, stop: asyncio.Event) -> None:
        """Apply batches until ``stop`` is set; a failing step is retried, never fatal."""
        while not stop.is_set():
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 -- the store or the brokers come back
                _log.exception("applying monitor results failed; retrying")
                await asyncio.sleep(_RETRY_SECONDS)


def _next_offsets(messages: Sequence[Message]) -> dict[int, int]:
    offsets: dict[int, int] = {}
    for message in messages:
        offsets[message.partition] = max(offsets.get(message.partition, 0), message.offset + 1)
    return offsets
