"""``stats-service deadletter list`` and ``replay`` in Kafka mode, with real processes.

A replica and a forwarder on a real broker and a real influxd: a point
InfluxDB refuses is listed with its reason by the CLI, replayed by the CLI
once the cause is fixed, stored exactly once, and not listed or replayed
again.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from influxd import InfluxDServer
from kafka_topology import KafkaTopology

pytestmark = [pytest.mark.integration, pytest.mark.influxdb, pytest.mark.kafka]


@pytest.fixture
def topology(kafka_topologies: Callable[..., KafkaTopology]) -> KafkaTopology:
    topo = kafka_topologies(kafka_dead_letter_refresh_seconds=0.5)
    topo.add_replica()
    topo.add_forwarder()
    return topo


def _query(influxd: InfluxDServer, database: str, statement: str) -> list[list[Any]]:
    response = httpx.post(f"{influxd.url}/query", data={"q": statement, "db": database}, timeout=30)
    response.raise_for_status()
    series = response.json()["results"][0].get("series") or []
    return [row for s in series for row in s["values"]]


def _stored_ids(influxd: InfluxDServer, database: str) -> list[str]:
    return [row[1] for row in _query(influxd, database, 'SELECT "event_id" FROM "analytics"')]


def _wait(predicate: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.25)


def _counted(topology: KafkaTopology) -> tuple[int, int, int]:
    """The dead letters in the replica's ``/ping``, ``outbox status`` and the forwarder's
    ``stats_deadletters_pending``."""
    replica = topology.replicas[0]
    ping = httpx.get(f"{replica.url}/ping", timeout=10).json()["storage"]["dead_letters"]
    status = json.loads(replica.cli("outbox", "status", "--json").stdout)["dead_letters"]
    metric = [
        line.split()[-1]
        for line in topology.forwarders[0].metrics().splitlines()
        if line.startswith("stats_deadletters_pending")
    ]
    return ping, status, int(float(metric[0])) if metric else -1


def test_the_cli_lists_and_replays_kafka_dead_letters_once(
    topology: KafkaTopology, influxd: InfluxDServer, influx_database: str
) -> None:
    replica = topology.replicas[0]
    headers = {"Authorization": f"Token {topology.token()}"}
    run = uuid.uuid4().hex[:8]

    def post(n: object) -> str:
        body = {"event": "order", "uid": run, "n": n}
        response = httpx.post(f"{replica.url}/log/event", json=body, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        event_id: str = response.json()
        return event_id

    def listed() -> list[dict[str, Any]]:
        out = replica.cli("deadletter", "list").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    seed = post(1)
    _wait(lambda: _stored_ids(influxd, influx_database) == [seed], "the seed stored")
    poison = post("text")  # "n" is an integer in this measurement: InfluxDB refuses it
    _wait(lambda: bool(listed()), "the dead letter listed")
    (letter,) = listed()
    _wait(lambda: _counted(topology) == (1, 1, 1), "the dead letter counted everywhere")
    assert letter["event_id"] == poison
    assert letter["n"] == "text"
    assert letter["status"] == 400
    assert "conflict" in letter["reason"]

    _query(influxd, influx_database, 'DROP MEASUREMENT "analytics"')  # the cause, fixed
    replayed = replica.cli("deadletter", "replay", poison)
    assert "queued 1 dead letter(s)" in replayed.stderr
    _wait(lambda: poison in _stored_ids(influxd, influx_database), "the replayed event stored")
    assert "queued 0 dead letter(s)" in replica.cli("deadletter", "replay", "--all").stderr
    assert listed() == []
    _wait(lambda: _counted(topology) == (0, 0, 0), "no dead letter counted anywhere")
    time.sleep(1.0)  # a second delivery would have landed by now
    assert _stored_ids(influxd, influx_database) == [poison]
