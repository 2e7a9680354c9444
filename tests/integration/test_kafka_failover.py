"""Failover on a three-node Kafka cluster: a node dies mid-load, then the quorum goes.

Three combined broker+controller KRaft nodes (replication factor 3,
``min.insync.replicas=2``), two API replicas and a forwarder, real influxd.
The leader of partition 0 is killed with SIGKILL mid-load: the partitions
move to the other nodes and acknowledged writes go on. A second node is then
killed: with one node of three there is no quorum and no in-sync pair, so
every request answers ``503`` with ``Retry-After`` and none is acknowledged.
Both nodes come back; every acknowledged event is in InfluxDB exactly once
and nothing nobody sent is there.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from influxd import InfluxDServer
from kafka_cluster import KafkaCluster
from kafka_fixtures import require_kafka
from kafka_topology import EventLoad, KafkaTopology, influx_ids, kafka_env, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.influxdb, pytest.mark.kafka, pytest.mark.slow]

EVENTS_CAP = 400_000  # the load is stopped long before; this bounds it


@pytest.fixture
def kafka_cluster(tmp_path: Path) -> Iterator[KafkaCluster]:
    java, classpath = require_kafka()
    cluster = KafkaCluster(tmp_path / "kafka", classpath=classpath, java=java)
    try:
        cluster.start()
        yield cluster
    finally:
        for node in cluster.nodes:
            node.kill()  # temporary data: no clean shutdown needed


def test_a_killed_leader_loses_nothing_and_no_quorum_answers_503(
    kafka_cluster: KafkaCluster,
    kafka_topic: str,
    influxd: InfluxDServer,
    influx_database: str,
    tmp_path: Path,
) -> None:
    kafka_cluster.create_topic(kafka_topic)
    kafka_cluster.create_topic(f"{kafka_topic}-dead")
    env = kafka_env(
        bootstrap=kafka_cluster.bootstrap_servers,
        topic=kafka_topic,
        influx_url=influxd.url,
        database=influx_database,
    )
    topology = KafkaTopology(root=tmp_path / "topology", env=env)
    try:
        for _ in range(2):
            topology.add_replica()
        topology.add_forwarder()
        load = EventLoad([r.url for r in topology.replicas], topology.token(), EVENTS_CAP)
        load.start()
        try:
            wait_for(lambda: load.count(200) >= 10, 30, "ten acknowledged requests")
            leader = kafka_cluster.leader(kafka_topic, 0)
            leader.kill()  # mid-load: its partitions move to the two other nodes
            acknowledged_before = load.count(200)
            wait_for(
                lambda: load.count(200) >= acknowledged_before + 10,
                30,
                "ten more acknowledged requests on two nodes",
            )
            second = next(n for n in kafka_cluster.nodes if n.is_running())
            refused_before = load.count(503)
            second.kill()  # one node of three: no quorum, no in-sync pair
            quorum_lost = time.monotonic()
            wait_for(
                lambda: load.count(503) >= refused_before + 6,
                30,
                "six 503 answers without a quorum",
            )
            quorum_back = time.monotonic()
            kafka_cluster.start([leader, second])
            resumed = load.count(200)
            wait_for(lambda: load.count(200) >= resumed + 10, 60, "acknowledgements again")
        finally:
            load.stop()
            load.join(60)
        acknowledged = load.acknowledged
        wait_for(
            lambda: acknowledged <= set(influx_ids(influxd.url, influx_database)),
            60,
            "every acknowledged event in InfluxDB",
        )
    finally:
        topology.stop()
    stored = influx_ids(influxd.url, influx_database)
    assert len(stored) == len(set(stored)), "a redelivered event became a second point"
    assert acknowledged <= set(stored)
    assert set(stored) <= acknowledged | load.unknown, "a point nobody sent"
    assert set(load.statuses) <= {200, 503}, load.statuses
    without_quorum = [o for o in load.outcomes if o.started > quorum_lost and o.ended < quorum_back]
    assert without_quorum, "no request was answered while the quorum was gone"
    assert all(o.status == 503 for o in without_quorum), [o.status for o in without_quorum]
    refused = [o for o in load.outcomes if o.status == 503]
    assert all(o.retry_after is not None and int(o.retry_after) >= 1 for o in refused)
