"""Scale-out on Kafka with real processes: replicas produce, a consumer group forwards.

Three ``stats-service serve`` replicas (``queue = kafka``) and two
``stats-service forward`` members against a real broker and a real influxd.
Every acknowledged event must be in InfluxDB exactly once after one
forwarder and one replica are killed with SIGKILL mid-stream; nothing that
was not sent is there. With the broker stopped, the replicas answer 503 with
``Retry-After`` and the SDK's retries deliver everything once it is back.

``STATS_TEST_KAFKA_EVENTS`` sets the load (default 200,000, in batches of
500 over three threads: about 30 s on a 2-core machine).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from influxd import InfluxDServer
from kafka_broker import KafkaBroker
from kafka_topology import EventLoad, KafkaTopology, influx_ids, wait_for

from stats_client import Analytics

pytestmark = [pytest.mark.integration, pytest.mark.influxdb, pytest.mark.kafka]

EVENTS = int(os.environ.get("STATS_TEST_KAFKA_EVENTS", "200000"))


@pytest.fixture
def topology(kafka_topologies: Callable[..., KafkaTopology]) -> KafkaTopology:
    return kafka_topologies()


@pytest.mark.slow
def test_every_acknowledged_event_is_stored_once_through_kills(
    topology: KafkaTopology, influxd: InfluxDServer, influx_database: str
) -> None:
    for _ in range(3):
        topology.add_replica()
    for _ in range(2):
        topology.add_forwarder()
    load = EventLoad([r.url for r in topology.replicas], topology.token(), EVENTS)
    load.start()
    wait_for(lambda: load.done >= EVENTS // 4, 120, "a quarter of the load")
    topology.forwarders[0].kill()  # mid-stream: its uncommitted batch goes to the other member
    wait_for(lambda: load.done >= EVENTS // 2, 120, "half of the load")
    topology.replicas[2].kill()  # mid-load: what it acknowledged is in Kafka already
    topology.forwarders[0].start()
    load.join(180)
    assert len(load.acknowledged) >= EVENTS // 2, load.statuses
    wait_for(
        lambda: (
            len(set(influx_ids(influxd.url, influx_database)) & load.acknowledged)
            == len(load.acknowledged)
        ),
        120,
        "every acknowledged event in InfluxDB",
    )
    stored = influx_ids(influxd.url, influx_database)
    assert len(stored) == len(set(stored)), "a redelivered event became a second point"
    assert load.acknowledged <= set(stored)
    assert set(stored) <= load.acknowledged | load.unknown, "a point nobody sent"
    lag = topology.forwarders[1].metrics()
    assert "stats_kafka_consumer_lag_events" in lag
    assert "stats_events_forwarded_total" in lag


@pytest.mark.slow
def test_broker_outage_answers_503_and_the_sdk_delivers_after_it(
    topology: KafkaTopology,
    kafka_broker: KafkaBroker,
    influxd: InfluxDServer,
    influx_database: str,
) -> None:
    replica = topology.add_replica()
    topology.add_forwarder()
    token = topology.token()
    headers = {"Authorization": f"Token {token}"}
    analytics = Analytics(
        {
            "url": replica.url,
            "access_token": token,
            "retry_max_backoff_seconds": 1.0,
            "max_queue_events": 50_000,
        }
    )
    sent: list[str | None] = []
    try:
        sent += [analytics.log({"event": "before", "uid": "u", "i": i}) for i in range(500)]
        assert analytics.flush(30.0)
        with kafka_broker.stopped():
            refused = httpx.post(
                f"{replica.url}/log/event",
                json={"event": "during", "uid": "u"},
                headers=headers,
                timeout=30,
            )
            ready = httpx.get(f"{replica.url}/health/ready", timeout=30)
            sent += [analytics.log({"event": "during", "uid": "u", "i": i}) for i in range(500)]
            time.sleep(6.0)  # the SDK meets 503s (after the 3 s produce timeout) and backs off
            during = analytics.counters()
        assert analytics.flush(60.0)
        after = analytics.counters()
    finally:
        analytics.close()
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "unavailable"
    assert int(refused.headers["Retry-After"]) >= 1
    assert ready.status_code == 503
    assert during.retried >= 1
    assert after.sent == 1000
    assert after.dropped_total == 0
    expected = {i for i in sent if i is not None}
    assert len(expected) == 1000
    wait_for(
        lambda: expected <= set(influx_ids(influxd.url, influx_database)),
        60,
        "every SDK event in InfluxDB",
    )
    stored = influx_ids(influxd.url, influx_database)
    assert len(stored) == len(set(stored))


def test_a_replica_reads_an_event_once_it_is_forwarded(
    topology: KafkaTopology, influxd: InfluxDServer, influx_database: str
) -> None:
    replica = topology.add_replica()
    topology.add_forwarder()
    headers = {"Authorization": f"Token {topology.token()}"}
    event_id = f"ryw-{uuid.uuid4().hex[:8]}"
    body: dict[str, Any] = {"event": "read.me", "uid": "u", "event_id": event_id}
    posted = httpx.post(f"{replica.url}/log/event", json=body, headers=headers, timeout=30)
    assert posted.status_code == 200, posted.text
    ready = httpx.get(f"{replica.url}/health/ready", timeout=30)
    assert ready.status_code == 200, ready.text

    def found() -> bool:
        got = httpx.get(f"{replica.url}/log/event/{event_id}", headers=headers, timeout=10)
        return got.status_code == 200

    wait_for(found, 30, "the event readable through the replica")


def test_the_replica_that_took_a_write_reads_it_before_it_is_forwarded(
    topology: KafkaTopology, influxd: InfluxDServer, influx_database: str
) -> None:
    writer, other = topology.add_replica(), topology.add_replica()
    headers = {"Authorization": f"Token {topology.token()}"}
    event_id = f"ryw-{uuid.uuid4().hex[:8]}"
    name = f"read.now.{uuid.uuid4().hex[:6]}"
    body: dict[str, Any] = {"event": name, "uid": "u", "event_id": event_id}
    posted = httpx.post(f"{writer.url}/log/event", json=body, headers=headers, timeout=30)
    assert posted.status_code == 200, posted.text
    # No forwarder runs: only the replica that produced it can know it.
    got = httpx.get(f"{writer.url}/log/event/{event_id}", headers=headers, timeout=10)
    assert got.status_code == 200, got.text
    assert got.json()["event_id"] == event_id
    window = httpx.get(
        f"{writer.url}/log/events", params={"event": name}, headers=headers, timeout=10
    )
    assert [e["event_id"] for e in window.json()["events"]] == [event_id]
    elsewhere = httpx.get(f"{other.url}/log/event/{event_id}", headers=headers, timeout=10)
    assert elsewhere.status_code == 404

    topology.add_forwarder()

    def everywhere_once() -> bool:
        there = httpx.get(f"{other.url}/log/event/{event_id}", headers=headers, timeout=10)
        return there.status_code == 200 and influx_ids(influxd.url, influx_database) == [event_id]

    wait_for(everywhere_once, 60, "the event forwarded and read on the other replica")
    merged = httpx.get(
        f"{writer.url}/log/events", params={"event": name}, headers=headers, timeout=10
    )
    assert [e["event_id"] for e in merged.json()["events"]] == [event_id]  # not twice
    assert merged.json()["events"][0]["time"] == got.json()["time"]
