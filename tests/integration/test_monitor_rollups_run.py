"""The proof run: 50 monitors every 5 s for 60 s against the real website, on an accelerated clock.

The scheduler, checker, SQLite store, metrics and ingest path are the real
ones; only time is a :class:`ManualClock`, advanced 60 s in steps, so the
run takes a few real seconds. Checks hit the loopback website for real (their
latencies are real). Then every minute rollup is checked against the raw
results exactly (counts, min/max, sum, status-code counts) and its
percentiles within the histogram's stated error.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
from fake_website import FakeWebsite
from prometheus_client import CollectorRegistry

from stats_service.events.model import Limits
from stats_service.ingest import Ingestor
from stats_service.monitors.component import MonitorsComponent
from stats_service.monitors.histogram import RELATIVE_ERROR
from stats_service.monitors.model import CheckResult, MonitorSpec
from stats_service.monitors.scheduler import ManualClock
from stats_service.monitors.sqlite_store import SQLiteMonitorStore
from stats_service.settings import load_settings
from stats_service.storage.base import EventQuery
from stats_service.storage.memory import MemoryStore

pytestmark = pytest.mark.slow

MONITORS = 50
INTERVAL = 5
RUN_SECONDS = 60


def nearest_rank(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def test_fifty_monitors_for_a_minute_roll_up_exactly(tmp_path: Path, website: FakeWebsite):
    settings = load_settings(data_dir=tmp_path, monitors_max_concurrency=50)
    clock = ManualClock(start=1_700_000_000 // 60 * 60 + 0.0)

    async def main() -> None:
        events = MemoryStore()
        await events.open()
        ingestor = Ingestor(events, measurement="analytics", limits=Limits())
        registry = CollectorRegistry()
        store = SQLiteMonitorStore(tmp_path / "monitors.sqlite3")
        component = MonitorsComponent(settings, store=store, clock=clock)
        await component.open(ingestor, registry=registry)
        service = component.service()
        ids = []
        for i in range(MONITORS):
            spec = MonitorSpec(
                name=f"m{i:02d}", url=website.url(f"/mix/run-{i}"), interval_seconds=INTERVAL
            )
            ids.append((await service.create(spec)).id)
        # Real checks take real milliseconds: give each clock step time to finish them.
        for _ in range(RUN_SECONDS * 2):
            await clock.advance(0.5, step=0.5)
            await asyncio.sleep(0.01)
            while any(service.scheduler and service.scheduler.running(m) for m in ids):  # noqa: ASYNC110 - real I/O
                await asyncio.sleep(0.005)
        health = component.status()
        await component.stop()

        assert health["skipped_overlap"] == 0
        assert health["sink_failures"] == 0
        reopened = SQLiteMonitorStore(tmp_path / "monitors.sqlite3")
        await reopened.open()
        try:
            total = 0
            for monitor_id in ids:
                results = await reopened.results(monitor_id, since=0, until=2e9, limit=1000)
                assert 11 <= len(results) <= 13  # every 5 s for 60 s, jittered start
                total += len(results)
                rows = await reopened.rollups(monitor_id, "minute", since=0, until=2e9)
                check_rows_against_results(rows, results)
                hours = await reopened.rollups(monitor_id, "hour", since=0, until=2e9)
                assert sum(h.count for h in hours) == len(results)
        finally:
            await reopened.close()
        assert total >= MONITORS * 11

        page = await events.query(
            EventQuery(since_ns=0, until_ns=2**62, limit=10_000, measurement="monitor_checks")
        )
        assert len(page.events) == total
        sample = page.events[0]
        assert set(sample.tags) >= {"monitor_id", "monitor"}
        assert {"status", "ok", "latency"} <= set(sample.fields)
        checks = sum(
            s.value
            for metric in registry.collect()
            if metric.name == "monitor_checks"
            for s in metric.samples
            if s.name == "monitor_checks_total"
        )
        assert checks == total

    asyncio.run(main())


def check_rows_against_results(rows, results: list[CheckResult]) -> None:
    assert sum(row.count for row in rows) == len(results)
    for row in rows:
        mine = [r for r in results if row.start <= r.time < row.start + 60]
        latencies = [r.latency_us for r in mine if r.latency_us is not None]
        assert row.count == len(mine)
        assert row.ok_count == sum(r.ok for r in mine)
        assert row.rt_min_us == min(latencies)
        assert row.rt_max_us == max(latencies)
        assert row.rt_sum_us == sum(latencies)
        codes: dict[str, int] = {}
        for r in mine:
            codes[str(r.status_code)] = codes.get(str(r.status_code), 0) + 1
        assert row.status_counts == codes
        assert set(codes) <= {"200", "404", "500"}
        for q in (0.5, 0.95, 0.99):
            estimate = row.histogram.quantile(q)
            exact = nearest_rank(latencies, q)
            assert estimate is not None
            assert abs(estimate - exact) <= RELATIVE_ERROR * exact * (1 + 1e-9)
