"""Pytest fixtures for a real Apache Kafka broker (KRaft): one per session, topics per test.

``tests/integration/conftest.py`` imports these names. Tests that use them
carry ``pytest.mark.kafka`` and ``pytest.mark.integration``. Under ``CI=true``
a missing Java or an unresolved classpath (``make kafka``) fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from influxd import InfluxDServer
from kafka_broker import KafkaBroker, java_executable, kafka_classpath, kafka_classpath_file
from kafka_topology import KafkaTopology, kafka_env

__all__ = ["kafka_broker", "kafka_topic", "kafka_topologies", "require_kafka"]


def require_kafka() -> tuple[str, str]:
    """``(java, classpath)``; fails under CI (``CI=true``) and skips elsewhere when missing."""
    java = java_executable()
    classpath = kafka_classpath()
    if java is None or classpath is None:
        missing = "java" if java is None else f"the Kafka classpath {kafka_classpath_file()}"
        message = f"{missing} is not installed (run `make kafka`)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI must run the Kafka integration tests")
        pytest.skip(message)
    return java, classpath


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A running single-node broker on free loopback ports with its own data.

    A test that stops it must start it again (``with kafka_broker.stopped(): ...``).
    """
    java, classpath = require_kafka()
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"), classpath=classpath, java=java)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def kafka_topic() -> str:
    """A topic name no other test uses (created on first produce, 4 partitions)."""
    return f"stats-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def kafka_topologies(
    tmp_path: Path,
    kafka_broker: KafkaBroker,
    kafka_topic: str,
    influxd: InfluxDServer,
    influx_database: str,
) -> Iterator[Callable[..., KafkaTopology]]:
    """Makes topologies (no process started yet) on the session broker, this test's
    topic and InfluxDB database; ``overrides`` are settings. All are stopped after."""
    made: list[KafkaTopology] = []

    def make(**overrides: object) -> KafkaTopology:
        env = kafka_env(
            bootstrap=kafka_broker.bootstrap_servers,
            topic=kafka_topic,
            influx_url=influxd.url,
            database=influx_database,
            **overrides,
        )
        made.append(KafkaTopology(root=tmp_path / f"topology-{len(made)}", env=env))
        return made[-1]

    try:
        yield make
    finally:
        for topology in made:
            topology.stop()
