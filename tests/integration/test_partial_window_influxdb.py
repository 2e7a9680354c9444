"""``GET /log/events`` while a real influxd is stopped: partial pages from the outbox,
and one pagination across the outage that sees every event exactly once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from delivery_service import DeliveryServiceProcess, delivery_env
from influxd import InfluxDServer

pytestmark = [pytest.mark.integration, pytest.mark.influxdb]

BASE_SECONDS = 1_763_850_000


@pytest.fixture
def service(
    tmp_path: Path, influxd: InfluxDServer, influx_database: str
) -> Iterator[DeliveryServiceProcess]:
    process = DeliveryServiceProcess(
        data_dir=tmp_path / "data",
        extra_env=delivery_env(influxd.url, influx_database, forward_linger_seconds=0.05),
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def _wait_for(predicate: Callable[[], bool], what: str, timeout_seconds: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _pending(client: httpx.Client) -> int:
    pending: int = client.get("/ping").json()["storage"]["pending_events"]
    return pending


def test_a_stopped_influxd_gives_partial_pages_and_the_pagination_resumes_exactly(
    service: DeliveryServiceProcess, influxd: InfluxDServer
) -> None:
    token = service.token("app", "write", "read")
    headers = {"Authorization": f"Token {token}"}
    with httpx.Client(base_url=service.url, headers=headers, timeout=30.0) as client:

        def log(*seconds: int) -> list[str]:
            batch = [{"event": "p", "uid": "u", "time": BASE_SECONDS + s} for s in seconds]
            response = client.post("/log/events", json=batch)
            assert response.status_code == 200, response.text
            ids: list[str] = response.json()["ids"]
            return ids

        def page(cursor: str | None) -> dict[str, Any]:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            response = client.get("/log/events", params=params)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            body["header"] = response.headers.get("x-stats-partial")
            return body

        before = log(1, 3, 5)
        _wait_for(lambda: _pending(client) == 0, "forwarding to influxd")
        first = page(None)
        assert first["partial"] is False
        assert first["header"] is None
        assert [e["event_id"] for e in first["events"]] == before[:2]
        influxd.stop()
        try:
            during = log(4, 6, 8)
            assert client.get(f"/log/event/{during[0]}").status_code == 200
            second = page(first["next_cursor"])
            assert second["partial"] is True
            assert second["header"] == "backend-unavailable"
            assert [e["event_id"] for e in second["events"]] == during[:2]
            assert second["resume_cursor"]
            assert second["next_cursor"]  # 8 is pending too
        finally:
            influxd.start()
        _wait_for(lambda: _pending(client) == 0, "the backlog reaching influxd")
        pages = [first, second]
        cursor = second["next_cursor"]
        while cursor is not None:
            pages.append(page(cursor))
            assert pages[-1]["partial"] is False
            cursor = pages[-1]["next_cursor"]
            assert len(pages) < 10
    seen = [e["event_id"] for p in pages for e in p["events"]]
    assert len(seen) == len(set(seen)), f"an event came twice: {seen}"
    assert set(seen) == set(before) | set(during), "an event is missing"
