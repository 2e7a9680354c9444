"""Check results over a real Kafka broker: checkers produce, aggregators apply once.

The results of one monitor are produced to the results topic; a first
aggregator applies a batch to a real SQLite monitor store and dies before it
commits; the next member of the group reads the same results again and
applies the rest. The rollups count every result exactly once.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from kafka_broker import KafkaBroker

from stats_service.delivery.kafka import KafkaConfig
from stats_service.delivery.kafka.consumer import EventConsumer
from stats_service.delivery.kafka.producer import EventProducer
from stats_service.monitors.model import CheckResult, Monitor, MonitorSpec
from stats_service.monitors.results_topic import (
    ResultAggregator,
    TopicResultRecorder,
    decode_result,
)
from stats_service.monitors.sqlite_store import SQLiteMonitorStore

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

T0 = 1_700_000_000 // 3600 * 3600
RESULTS = 120


def _results(monitor_id: str) -> list[CheckResult]:
    return [
        CheckResult(
            id=f"chk_{uuid.uuid4().hex[:8]}_{n}",
            monitor_id=monitor_id,
            time=T0 + n,
            ok=n % 5 != 0,
            status_code=200 if n % 5 else 503,
            latency_us=1000 + n,
        )
        for n in range(RESULTS)
    ]


def test_results_redelivered_after_a_crash_are_counted_once(
    kafka_broker: KafkaBroker, kafka_topic: str, tmp_path: Path
) -> None:
    config = KafkaConfig(
        bootstrap_servers=kafka_broker.bootstrap_servers,
        topic=f"{kafka_topic}-results",
        group=f"{kafka_topic}-aggregators",
        produce_timeout_seconds=5.0,
    )
    monitor = Monitor(
        id="mon_kafka",
        spec=MonitorSpec(name="home", url="http://127.0.0.1/"),
        created_at=T0,
        updated_at=T0,
    )
    results = _results(monitor.id)

    async def scenario() -> tuple[int, int, int, int, int]:
        producer = EventProducer(config)
        producer.start()
        recorder = TopicResultRecorder(producer, config.topic)
        for start in range(0, RESULTS, 30):  # as the checkers record them, in batches
            assert await recorder.record_results(results[start : start + 30]) == 30
        await asyncio.to_thread(producer.stop, 5.0)

        store = SQLiteMonitorStore(tmp_path / "monitors.sqlite3")
        await store.open()
        await store.add_monitor(monitor)
        # A member applies what it reads, then dies before committing.
        crashed_consumer = EventConsumer(config)
        await crashed_consumer.start()
        applied_before_crash = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while applied_before_crash == 0:
            assert loop.time() < deadline, "the first member read nothing"
            messages = await crashed_consumer.poll(50, 0.5)
            applied_before_crash += await store.record_results(
                [decode_result(m.value) for m in messages]
            )
        await crashed_consumer.stop()  # leaves the group, nothing committed

        survivor = ResultAggregator(EventConsumer(config), store)
        await survivor.start()
        read = 0
        deadline = loop.time() + 30
        while read < RESULTS:
            assert loop.time() < deadline, f"the survivor read {read} of {RESULTS}"
            read += await survivor.step()
        await survivor.stop()
        minutes = await store.rollups(monitor.id, "minute", since=0, until=T0 + 7200)
        (hour,) = await store.rollups(monitor.id, "hour", since=0, until=T0 + 7200)
        await store.close()
        return (
            applied_before_crash,
            read,
            survivor.applied,
            sum(row.count for row in minutes),
            hour.ok_count,
        )

    async def bounded() -> tuple[int, int, int, int, int]:
        return await asyncio.wait_for(scenario(), 90)

    before, read, applied, minute_total, hour_ok = asyncio.run(bounded())
    assert 0 < before <= RESULTS
    assert read == RESULTS, "the survivor reads everything again: nothing was committed"
    assert applied == RESULTS - before, "what the crashed member applied is not applied twice"
    assert minute_total == RESULTS
    assert hour_ok == RESULTS - RESULTS // 5
