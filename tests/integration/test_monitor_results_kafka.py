"""Check results over a real Kafka broker: checkers produce, aggregators apply once.

The results of one monitor are produced to the results topic; a first
aggregator applies a batch to a real SQLite monitor store and dies before it
commits; the next member of the group reads the same results again and
applies the rest. The rollups count every result exactly once. End to end, a
real replica's checks reach the monitor store only once a real
``stats-service monitor-aggregate`` process applies them.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from influxd import InfluxDServer
from kafka_broker import KafkaBroker
from kafka_topology import KafkaTopology, kafka_env
from service_process import ServiceProcess, _cli, free_port

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

pytestmark = [pytest.mark.integration, pytest.mark.kafka, pytest.mark.influxdb]

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


class AggregatorProcess(ServiceProcess):
    """``stats-service monitor-aggregate``; ready once it says it runs."""

    def command(self) -> list[str]:
        return [*_cli(), "monitor-aggregate"]

    def start(self, timeout_seconds: float = 30.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), env=self.env(), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_seconds
        while "monitor-aggregate: running" not in self.log_tail():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"monitor-aggregate did not start:\n{self.log_tail()}")
            time.sleep(0.1)


def test_a_replicas_checks_reach_the_store_only_through_the_aggregator(
    tmp_path: Path,
    kafka_broker: KafkaBroker,
    kafka_topic: str,
    influxd: InfluxDServer,
    influx_database: str,
) -> None:
    env = kafka_env(
        bootstrap=kafka_broker.bootstrap_servers,
        topic=kafka_topic,
        influx_url=influxd.url,
        database=influx_database,
        monitors_enabled="true",
        monitors_store="sqlite",
        kafka_monitor_results_topic=f"{kafka_topic}-results",
        kafka_monitor_aggregator_group=f"{kafka_topic}-aggregators",
    )
    topology = KafkaTopology(root=tmp_path, env=env)
    aggregator: AggregatorProcess | None = None
    try:
        replica = topology.add_replica()
        admin = replica.token("ops", "admin", "read")
        client = httpx.Client(
            base_url=replica.url, headers={"Authorization": f"Token {admin}"}, timeout=10
        )
        spec = {"name": "self", "url": f"{replica.url}/ping", "interval_seconds": 3600}
        created = client.post("/monitors", json=spec)
        assert created.status_code == 201, created.text
        monitor_id = created.json()["id"]
        checked = [client.post(f"/monitors/{monitor_id}/run").json()["id"] for _ in range(3)]

        def stored() -> list[str]:
            page = client.get(f"/monitors/{monitor_id}/results", params={"since": 0}).json()
            return [result["id"] for result in page["results"]]

        time.sleep(1.0)
        assert not set(checked) & set(stored()), "results wait in the topic for an aggregator"

        aggregator = AggregatorProcess(
            data_dir=replica.data_dir, extra_env=topology._shared(), port=free_port()
        )
        aggregator.start()
        deadline = time.monotonic() + 30
        while not set(checked) <= set(stored()):
            assert time.monotonic() < deadline, f"not applied:\n{aggregator.log_tail()}"
            time.sleep(0.25)
        rollups = client.get(
            f"/monitors/{monitor_id}/rollups", params={"granularity": "minute", "since": 0}
        ).json()["rollups"]
        assert sum(row["count"] for row in rollups) == len(stored())
        client.close()
    finally:
        if aggregator is not None:
            aggregator.stop()
        topology.stop()
