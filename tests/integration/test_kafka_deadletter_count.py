"""The dead-letter count of the Kafka queue's status, against a real broker and influxd.

A point InfluxDB refuses makes ``dead_letters`` 1 in the forwarder's status
and, through the background count, in a producing replica's; a process that
has just started reports it too; a replay brings it back to 0 everywhere.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from influxd import InfluxDServer
from kafka_broker import KafkaBroker

from stats_service.delivery.config import DeliveryConfig
from stats_service.delivery.forwarder import Forwarder
from stats_service.delivery.kafka import KafkaConfig, KafkaQueue
from stats_service.events.model import Event
from stats_service.storage.influx.config import InfluxDBConfig
from stats_service.storage.influx.v1 import InfluxDBStore

pytestmark = [pytest.mark.integration, pytest.mark.influxdb, pytest.mark.kafka]

T0 = 1_763_850_000_000_000_000


def _influxql(influxd: InfluxDServer, database: str, statement: str) -> list[dict[str, Any]]:
    response = httpx.post(f"{influxd.url}/query", data={"q": statement, "db": database}, timeout=30)
    response.raise_for_status()
    series: list[dict[str, Any]] = response.json()["results"][0].get("series") or []
    return series


def _stored(influxd: InfluxDServer, database: str) -> int:
    series = _influxql(influxd, database, 'SELECT "event_id" FROM "orders"')
    return sum(len(s["values"]) for s in series)


async def _until(what: str, done: Callable[[], bool], seconds: float = 30) -> None:
    try:
        async with asyncio.timeout(seconds):
            for _ in iter(done, True):
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"{what} did not happen within {seconds} s") from None


def test_a_poison_event_counts_one_dead_letter_and_a_replay_zero(
    kafka_broker: KafkaBroker, kafka_topic: str, influxd: InfluxDServer, influx_database: str
) -> None:
    cfg = KafkaConfig(
        bootstrap_servers=kafka_broker.bootstrap_servers,
        topic=kafka_topic,
        dead_letter_topic=f"{kafka_topic}-dead",
        group=f"{kafka_topic}-group",
        produce_timeout_seconds=5.0,
        dead_letter_refresh_seconds=0.5,
    )
    run_id = uuid.uuid4().hex[:8]
    seed = Event(f"{run_id}-seed", "orders", T0, {"event": "order"}, {"n": 1})
    poison = Event(f"{run_id}-poison", "orders", T0 + 1000, {"event": "order"}, {"n": "text"})

    async def scenario() -> None:
        api = KafkaQueue(cfg)
        forward = KafkaQueue(cfg, role="forward")
        store = InfluxDBStore(InfluxDBConfig(url=influxd.url, database=influx_database))
        await store.open()
        await api.start()
        await forward.start()
        forwarder = Forwarder(forward, store, config=DeliveryConfig(linger_seconds=0.05))
        forwarder.start()
        try:
            assert (await api.status()).dead_letters == 0
            await api.append([seed])
            await _until("the seed stored", lambda: _stored(influxd, influx_database) == 1)
            await api.append([poison])  # "n" is an integer in "orders": InfluxDB refuses it
            await _until("the forwarder counts it", lambda: forward.status_sync().dead_letters == 1)
            await _until("the replica counts it", lambda: api.status_sync().dead_letters == 1)

            fresh = KafkaQueue(cfg)  # e.g. `stats-service outbox status`
            await fresh.start()
            assert (await fresh.status()).dead_letters == 1
            await fresh.stop()

            _influxql(influxd, influx_database, 'DROP MEASUREMENT "orders"')  # the cause, fixed
            assert await api.replay() == 1
            await _until("the replica counts none", lambda: api.status_sync().dead_letters == 0)
            await _until(
                "the forwarder counts none", lambda: forward.status_sync().dead_letters == 0
            )
            await _until(
                "the replayed event stored", lambda: _stored(influxd, influx_database) == 1
            )
        finally:
            await forwarder.stop()
            await forward.stop()
            await api.stop()
            await store.close()

    asyncio.run(asyncio.wait_for(scenario(), 90))
