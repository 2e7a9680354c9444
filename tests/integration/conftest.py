"""Fixtures for integration tests: a real uvicorn-served stats-service over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from influx_fixtures import influx_database, influxd  # noqa: F401 - fixtures for every integration test
from kafka_fixtures import kafka_broker, kafka_topic, kafka_topologies  # noqa: F401 - the Kafka tests' fixtures
from monitor_fixtures import expiring_certificate, tls_website, website  # noqa: F401 - monitor tests
from postgres import postgres_database, postgres_server  # noqa: F401 - PostgreSQL tests
from service_process import LiveService, ServiceProcess


@pytest.fixture(scope="session")
def live_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """One stats-service on the embedded store for the whole session."""
    process = ServiceProcess(data_dir=tmp_path_factory.mktemp("live") / "data")
    process.data_dir.mkdir(parents=True)
    live = LiveService(
        process=process,
        writer=process.token("app", "write"),
        reader=process.token("dashboard", "read"),
        admin=process.token("ops", "admin"),
    )
    process.start()
    try:
        yield live
    finally:
        process.stop()


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[type[ServiceProcess]]:
    """Start extra, per-test services (``factory(data_dir=..., extra_env=...)``)."""
    started: list[ServiceProcess] = []

    class _Factory(ServiceProcess):
        def start(self, timeout_seconds: float = 30.0) -> None:
            started.append(self)
            super().start(timeout_seconds)

    yield _Factory
    for process in started:
        process.stop()
