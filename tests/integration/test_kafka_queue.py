"""The Kafka queue against a real broker and a real influxd, in this process.

Appends are acknowledged by the broker; the shared forwarder drains the topic
into InfluxDB; a crash between the write and the commit makes the next group
member write the same points again, which overwrites them (no duplicates); a
point InfluxDB refuses goes to the dead-letter topic with the reason and the
partition moves on.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from influxd import InfluxDServer
from kafka_broker import KafkaBroker

from stats_service.delivery.config import DeliveryConfig
from stats_service.delivery.forwarder import Forwarder
from stats_service.delivery.kafka import KafkaConfig, KafkaQueue
from stats_service.delivery.queue import QueueUnavailable
from stats_service.events.model import Event
from stats_service.storage.influx.config import InfluxDBConfig
from stats_service.storage.influx.v1 import InfluxDBStore

pytestmark = [pytest.mark.integration, pytest.mark.influxdb, pytest.mark.kafka]

T = TypeVar("T")
T0 = 1_763_850_000_000_000_000


def run(scenario: Callable[[], Awaitable[T]], timeout_seconds: float = 90) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), timeout_seconds)

    return asyncio.run(bounded())


def influxql(url: str, statement: str, database: str) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{url}/query", data={"q": statement, "db": database, "epoch": "ns"}, timeout=30
    )
    response.raise_for_status()
    series: list[dict[str, Any]] = response.json()["results"][0].get("series") or []
    return series


def stored_ids(url: str, database: str) -> list[str]:
    series = influxql(url, 'SELECT "event_id" FROM "analytics"', database)
    return [row[1] for s in series for row in s["values"]]


def config(broker: KafkaBroker, topic: str, **overrides: Any) -> KafkaConfig:
    values: dict[str, Any] = {
        "bootstrap_servers": broker.bootstrap_servers,
        "topic": topic,
        "dead_letter_topic": f"{topic}-dead",
        "group": f"{topic}-group",
        "produce_timeout_seconds": 5.0,
    }
    values.update(overrides)
    return KafkaConfig(**values)


def events(count: int, *, start: int = 0, field: Any = None) -> list[Event]:
    run_id = uuid.uuid4().hex[:8]
    return [
        Event(
            event_id=f"{run_id}-{number:06d}",
            measurement="analytics",
            time_ns=T0 + number * 1_000_000,
            tags={"event": "page.view"},
            fields={"n": number if field is None else field, "uid": f"user-{number % 7}"},
        )
        for number in range(start, start + count)
    ]


def influx_store(influxd: InfluxDServer, database: str) -> InfluxDBStore:
    return InfluxDBStore(InfluxDBConfig(url=influxd.url, database=database))


async def forward_until(
    queue: KafkaQueue, store: InfluxDBStore, done: Callable[[], bool], seconds: float = 30
) -> None:
    forwarder = Forwarder(queue, store, config=DeliveryConfig(linger_seconds=0.05))
    forwarder.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not await asyncio.to_thread(done):
            assert loop.time() < deadline, "forwarding did not finish in time"
            await asyncio.sleep(0.2)
    finally:
        await forwarder.stop()


def test_appended_events_are_forwarded_to_influxdb_once(
    kafka_broker: KafkaBroker, kafka_topic: str, influxd: InfluxDServer, influx_database: str
) -> None:
    batch = events(500)

    async def scenario() -> None:
        producer = KafkaQueue(config(kafka_broker, kafka_topic))
        await producer.start()
        appended = await producer.append(batch)
        assert appended.inserted == 500
        assert await producer.probe() is None
        await producer.stop()

        consumer = KafkaQueue(config(kafka_broker, kafka_topic), role="forward")
        store = influx_store(influxd, influx_database)
        await store.open()
        await consumer.start()
        await forward_until(
            consumer, store, lambda: len(stored_ids(influxd.url, influx_database)) >= 500
        )
        assert (await consumer.status()).forward_rate_events_per_second > 0
        await consumer.stop()
        await store.close()

    run(scenario)
    ids = stored_ids(influxd.url, influx_database)
    assert sorted(ids) == sorted(e.event_id for e in batch)


def test_redelivery_after_a_crash_overwrites_the_same_points(
    kafka_broker: KafkaBroker, kafka_topic: str, influxd: InfluxDServer, influx_database: str
) -> None:
    batch = events(300)

    async def scenario() -> None:
        producer = KafkaQueue(config(kafka_broker, kafka_topic))
        await producer.start()
        await producer.append(batch)
        await producer.stop()
        store = influx_store(influxd, influx_database)
        await store.open()

        # A member writes what it consumed, then dies before committing.
        crashed = KafkaQueue(config(kafka_broker, kafka_topic), role="forward")
        await crashed.start()
        written: list[str] = []
        for _ in range(40):
            entries = await crashed.next_batch(1000, 1 << 24, after_seq=0)
            fresh = [e for e in entries if e.event.event_id not in written]
            if fresh:
                await store.write([e.event for e in fresh])
                written.extend(e.event.event_id for e in fresh)
            if len(written) >= 300:
                break
        assert len(written) == 300
        await crashed.stop()  # leaves the group; nothing was committed

        survivor = KafkaQueue(config(kafka_broker, kafka_topic), role="forward")
        await survivor.start()
        forwarder = Forwarder(survivor, store, config=DeliveryConfig(linger_seconds=0.05))
        rewritten = 0
        for _ in range(40):
            outcome = await forwarder.forward_batch()
            rewritten += outcome.forwarded if outcome else 0
            if rewritten >= 300:
                break
        await survivor.stop()
        await store.close()
        assert rewritten == 300, "the survivor must read every uncommitted event again"

    run(scenario)
    ids = stored_ids(influxd.url, influx_database)
    assert len(ids) == 300
    assert sorted(ids) == sorted(e.event_id for e in batch)


def test_a_point_influxdb_refuses_goes_to_the_dead_letter_topic_and_the_rest_follow(
    kafka_broker: KafkaBroker, kafka_topic: str, influxd: InfluxDServer, influx_database: str
) -> None:
    first = events(50)  # "n" is an integer field
    poison = events(1, start=50, field="not-a-number")  # a field type conflict
    after = events(50, start=51)

    async def scenario() -> list[Any]:
        cfg = config(kafka_broker, kafka_topic)
        producer = KafkaQueue(cfg)
        await producer.start()
        await producer.append(first)
        await producer.stop()
        store = influx_store(influxd, influx_database)
        await store.open()
        consumer = KafkaQueue(cfg, role="forward")
        await consumer.start()
        await forward_until(
            consumer, store, lambda: len(stored_ids(influxd.url, influx_database)) >= 50
        )
        producer = KafkaQueue(cfg)
        await producer.start()
        await producer.append(poison + after)
        await producer.stop()
        await forward_until(
            consumer, store, lambda: len(stored_ids(influxd.url, influx_database)) >= 100
        )
        dead = await consumer.deadletters()
        await consumer.stop()
        await store.close()
        return dead

    dead = run(scenario)
    assert [d.event.event_id for d in dead] == [poison[0].event_id]
    assert "conflict" in dead[0].reason
    assert dead[0].status == 400
    assert dead[0].event.fields["n"] == "not-a-number"
    ids = set(stored_ids(influxd.url, influx_database))
    assert ids == {e.event_id for e in first + after}


def test_append_without_a_broker_raises_queue_unavailable(tmp_path: Any) -> None:
    # No broker listens on this port: the produce times out and nothing is acknowledged.
    from server_process import free_port  # noqa: PLC0415 - a port nobody listens on

    cfg = KafkaConfig(
        bootstrap_servers=f"127.0.0.1:{free_port()}", topic="t", produce_timeout_seconds=1.0
    )

    async def scenario() -> QueueUnavailable:
        queue = KafkaQueue(cfg)
        await queue.start()
        try:
            with pytest.raises(QueueUnavailable) as caught:
                await queue.append(events(3))
            assert await queue.probe() is not None
        finally:
            await queue.stop(timeout_seconds=1.0)
        return caught.value

    error = run(scenario, timeout_seconds=30)
    assert error.status_code == 503
    assert error.headers()["Retry-After"] == "2"
    assert orjson.dumps(error.message)


def _ids_in(url: str, database: str, measurement: str) -> list[str]:
    series = influxql(url, f'SELECT "event_id" FROM "{measurement}"', database)
    return [row[1] for s in series for row in s["values"]]


def test_a_dead_letter_is_listed_replayed_once_the_cause_is_fixed_and_stored_once(
    kafka_broker: KafkaBroker, kafka_topic: str, influxd: InfluxDServer, influx_database: str
) -> None:
    run_id = uuid.uuid4().hex[:8]
    seed = Event(f"{run_id}-seed", "orders", T0, {"event": "order"}, {"n": 1})
    poison = Event(f"{run_id}-poison", "orders", T0 + 1000, {"event": "order"}, {"n": "text"})
    good = events(20)

    async def scenario() -> tuple[list[Any], list[Any], int, int, list[Any]]:
        cfg = config(kafka_broker, kafka_topic)
        api = KafkaQueue(cfg)  # what `stats-service deadletter` opens: a producing queue
        await api.start()
        await api.append([seed])
        store = influx_store(influxd, influx_database)
        await store.open()
        forwarder = KafkaQueue(cfg, role="forward")
        await forwarder.start()
        await forward_until(
            forwarder, store, lambda: len(_ids_in(influxd.url, influx_database, "orders")) == 1
        )
        await api.append([poison, *good])  # n is an integer in "orders": a type conflict
        await forward_until(
            forwarder, store, lambda: len(stored_ids(influxd.url, influx_database)) >= 20
        )
        listed = await api.deadletters()
        # The cause is fixed: the wrongly typed measurement goes.
        influxql(influxd.url, 'DROP MEASUREMENT "orders"', influx_database)
        replayed = await api.replay([poison.event_id])
        again = await api.replay()
        await forward_until(
            forwarder,
            store,
            lambda: poison.event_id in _ids_in(influxd.url, influx_database, "orders"),
        )
        await asyncio.sleep(1.0)  # a second delivery would land by now
        after = await api.deadletters()
        await forwarder.stop()
        await api.stop()
        await store.close()
        return listed, after, replayed, again, _ids_in(influxd.url, influx_database, "orders")

    listed, after, replayed, again, orders = run(scenario)
    assert [(d.event.event_id, d.status) for d in listed] == [(poison.event_id, 400)]
    assert "conflict" in listed[0].reason
    assert (replayed, again) == (1, 0)
    assert after == []
    assert orders == [poison.event_id]  # exactly once
    assert sorted(stored_ids(influxd.url, influx_database)) == sorted(e.event_id for e in good)
