"""Pytest fixtures for a real influxd: one server per session, one database per test.

``tests/integration/conftest.py`` imports these names so every integration
test can ask for them. Tests that use them carry ``pytest.mark.influxdb`` and
``pytest.mark.integration``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from influxd import InfluxDServer, influxd_executable

__all__ = ["influx_database", "influxd", "require_influxd"]


def require_influxd() -> str:
    """The path of influxd; fails under CI (``CI=true``) and skips elsewhere when missing."""
    executable = influxd_executable()
    if executable is None:
        message = "influxd is not installed (Debian package influxdb; run `make servers`)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI must run the InfluxDB integration tests")
        pytest.skip(message)
    return executable


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDServer]:
    """A running influxd on a free loopback port with its own config and data.

    A test that stops it must start it again (``with influxd.stopped(): ...``
    does both).
    """
    server = InfluxDServer(tmp_path_factory.mktemp("influxd"), executable=require_influxd())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def influx_database() -> str:
    """A database name no other test uses (the store creates it)."""
    return f"test_{uuid.uuid4().hex[:12]}"
