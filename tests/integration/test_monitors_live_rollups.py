"""50 monitors at 5 s on a real uvicorn service, real clock: rollups agree with raw results.

The accelerated 60 s run (``test_monitor_rollups_run``) covers a full minute
of every monitor; this one runs the same load through the real process and
its HTTP API for 16 s of real time, then reads everything back over HTTP:
minute rollups against raw results exactly, percentiles within the
histogram's error, every result also an event, and ``/metrics`` counting them.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import httpx
import pytest
from fake_website import FakeWebsite
from service_process import ServiceProcess

from stats_service.monitors.histogram import RELATIVE_ERROR

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MONITORS = 50
RUN_SECONDS = 16


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def all_results(client: httpx.Client, monitor_id: str) -> list[dict]:
    results: list[dict] = []
    cursor = None
    while True:
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"/monitors/{monitor_id}/results", params=params).json()
        results += page["results"]
        cursor = page["next_cursor"]
        if cursor is None:
            return results


def test_fifty_monitors_on_uvicorn_roll_up_exactly(
    tmp_path: Path, website: FakeWebsite, service_factory: type[ServiceProcess]
):
    service = service_factory(data_dir=tmp_path / "data")
    admin_token = service.token("ops", "admin")
    service.start()
    headers = {"Authorization": f"Token {admin_token}"}
    with httpx.Client(base_url=service.url, headers=headers, timeout=30) as admin:
        ids = []
        for i in range(MONITORS):
            definition = {"name": f"live-{i}", "url": website.url(f"/mix/live-{i}")}
            created = admin.post("/monitors", json={**definition, "interval_seconds": 5})
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        time.sleep(RUN_SECONDS)
        for monitor_id in ids:
            assert admin.post(f"/monitors/{monitor_id}/pause").status_code == 200
        time.sleep(1.5)  # checks in flight finish
        total = 0
        for monitor_id in ids:
            results = all_results(admin, monitor_id)
            assert 2 <= len(results) <= 5
            assert len({r["id"] for r in results}) == len(results)
            total += len(results)
            rows = admin.get(
                f"/monitors/{monitor_id}/rollups", params={"granularity": "minute"}
            ).json()["rollups"]
            assert sum(row["count"] for row in rows) == len(results)
            for row in rows:
                check_row(
                    row, [r for r in results if row["start"] <= r["time"] < row["start"] + 60]
                )
        events = admin.get(
            "/log/events", params={"measurement": "monitor_checks", "limit": 1000}
        ).json()
        assert len(events["events"]) == total
        metrics = admin.get("/metrics").text
        counted = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("monitor_checks_total{")
        )
        assert counted == total


def check_row(row: dict, mine: list[dict]) -> None:
    latencies = [r["latency_ms"] for r in mine]
    assert row["count"] == len(mine)
    assert row["ok_count"] == sum(r["ok"] for r in mine)
    assert row["rt_min_ms"] == min(latencies)
    assert row["rt_max_ms"] == max(latencies)
    codes: dict[str, int] = {}
    for r in mine:
        codes[str(r["status_code"])] = codes.get(str(r["status_code"]), 0) + 1
    assert row["status_counts"] == codes
    for q, key in ((0.5, "p50_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")):
        exact = nearest_rank(latencies, q)
        assert abs(row[key] - exact) <= RELATIVE_ERROR * exact * (1 + 1e-9) + 1e-9
