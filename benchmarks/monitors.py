"""Monitors benchmark: what one process sustains checking 1,000 monitors on loopback.

Measured in one run, against one loopback site (its own process):

- ``gather``: a plain ``asyncio.gather`` of the same httpx GETs (one client,
  the same connection limit): the baseline;
- ``checker``: the same requests as monitor checks (conditions, result
  objects), no scheduler and no store;
- ``scheduled``: 1,000 monitors on the real scheduler, SQLite store,
  aggregator and metrics, on the real clock: at a 5 s interval (the demand one
  process must meet, with its lateness p99) and at a 1 s interval (more than
  it can meet: the checks per second it sustains);
- ``aggregator``: results per second applied to the SQLite store, one per
  transaction and 100 per transaction;
- ``storage``: bytes per row of each table (indexes included, from SQLite's
  ``dbstat``) and the rows and bytes 1,000 monitors at 30 s keep under the
  default retention.

``python -m benchmarks.monitors [--seconds N] [--results FILE]``; prints a
table and writes JSON (default ``benchmarks/results/monitors.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from benchmarks.servers import REPO_ROOT, free_port
from stats_service.monitors.checker import Checker
from stats_service.monitors.metrics import MonitorMetrics
from stats_service.monitors.model import CheckResult, Monitor, MonitorSpec
from stats_service.monitors.scheduler import Scheduler
from stats_service.monitors.service import MonitorService, Retention
from stats_service.monitors.sqlite_store import SQLiteMonitorStore

__all__ = ["main", "run", "table"]

MONITORS = 1000
CONCURRENCY = 100
_DAY = 86_400


def _monitors(url: str, interval: int = 5) -> list[Monitor]:
    return [
        Monitor(
            id=f"mon_{i:06d}",
            spec=MonitorSpec(name=f"bench-{i}", url=f"{url}/{i}", interval_seconds=interval),
            created_at=0,
            updated_at=0,
        )
        for i in range(MONITORS)
    ]


async def _gather_rate(url: str, rounds: int) -> float:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    # Bounded by a semaphore like the checks: with 1,000 requests queued inside
    # it, httpx's own pool slows down far more than the requests themselves cost.
    limit = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(60)) as client:

        async def one(i: int) -> int:
            async with limit:
                return (await client.get(f"{url}/{i}")).status_code

        await asyncio.gather(*(one(i) for i in range(MONITORS)))  # warm
        started = time.perf_counter()
        for _ in range(rounds):
            answers = await asyncio.gather(*(one(i) for i in range(MONITORS)))
            assert all(a == 200 for a in answers)
        return rounds * MONITORS / (time.perf_counter() - started)


async def _checker_rate(monitors: list[Monitor], rounds: int) -> tuple[float, int]:
    checker = Checker(max_connections=CONCURRENCY)
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(monitor: Monitor) -> CheckResult:
        async with limit:
            return await checker.check(monitor)

    try:
        await asyncio.gather(*(one(m) for m in monitors))  # warm
        started = time.perf_counter()
        failed = 0
        for _ in range(rounds):
            results = await asyncio.gather(*(one(m) for m in monitors))
            failed += sum(not r.ok for r in results)
        return rounds * MONITORS / (time.perf_counter() - started), failed
    finally:
        await checker.aclose()


async def _scheduled(url: str, interval: int, seconds: float, data: Path) -> dict[str, float]:
    store = SQLiteMonitorStore(data / f"scheduled-{interval}.sqlite3")
    await store.open()
    checker = Checker(max_connections=CONCURRENCY)
    service = MonitorService(
        store,
        checker,
        metrics=MonitorMetrics(CollectorRegistry()),
        sink=None,
        holder="bench",
        lease_seconds=3600,
        retention=Retention(2, 14, 400),
    )
    monitors = _monitors(url)
    for monitor in monitors:
        await store.add_monitor(monitor)
    await service.sync()  # fills the cache; no scheduler attached yet
    scheduler = Scheduler(service.run_scheduled, max_concurrency=CONCURRENCY)
    for monitor in monitors:
        scheduler.schedule(monitor.id, interval)
    scheduler.start()
    warmup = min(interval, seconds / 3)
    await asyncio.sleep(warmup)
    started_count, started = scheduler.stats.started, time.perf_counter()
    scheduler.stats.lateness_seconds.clear()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - started
    done = scheduler.stats.started - started_count
    lateness = sorted(scheduler.stats.lateness_seconds)
    await scheduler.stop()
    states = await store.states()
    size = await store.size()
    await checker.aclose()
    await store.close()
    return {
        "demand_per_second": MONITORS / interval,
        "checks_per_second": done / elapsed,
        "lateness_p50_ms": 1000 * lateness[len(lateness) // 2] if lateness else math.nan,
        "lateness_p99_ms": 1000 * lateness[int(len(lateness) * 0.99)] if lateness else math.nan,
        "skipped_overlap": float(scheduler.stats.skipped_overlap),
        "results_stored": float(size.results),
        "monitors_down": float(sum(not state.up for state in states.values())),
    }


def _synthetic(monitors: int, hours: float, interval: int, seed: int = 1) -> list[CheckResult]:
    rng = random.Random(seed)
    start = 1_700_000_000 // 3600 * 3600
    out = []
    for m in range(monitors):
        for k in range(int(hours * 3600 / interval)):
            bad = rng.random() < 0.02
            out.append(
                CheckResult(
                    id=f"chk_{m:04d}_{k:08d}",
                    monitor_id=f"mon_{m:06d}",
                    time=start + k * interval + rng.random(),
                    ok=not bad,
                    status_code=503 if bad else 200,
                    latency_us=int(rng.lognormvariate(10.5, 0.6)),
                )
            )
    return out


async def _aggregator(data: Path, batch: int, results: list[CheckResult]) -> float:
    store = SQLiteMonitorStore(data / f"aggregate-{batch}.sqlite3")
    await store.open()
    for m in sorted({r.monitor_id for r in results}):
        await store.add_monitor(
            Monitor(
                id=m,
                spec=MonitorSpec(name=m, url="http://127.0.0.1/"),
                created_at=0,
                updated_at=0,
            )
        )
    started = time.perf_counter()
    pending = []
    for i in range(0, len(results), batch):
        pending.append(store.record_results(results[i : i + batch]))
        if len(pending) >= 64:  # concurrent writers share commits, as live checks do
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    rate = len(results) / (time.perf_counter() - started)
    await store.close()
    return rate


def _bytes_per_row(path: Path) -> dict[str, float]:
    with sqlite3.connect(path) as conn:
        sizes = dict(conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
        results = conn.execute("SELECT count(*) FROM results").fetchone()[0]
        minute, hour = (
            conn.execute("SELECT count(*) FROM rollups WHERE granularity = ?", (g,)).fetchone()[0]
            for g in ("minute", "hour")
        )
        # Split the rollups table by each granularity's share of its payload bytes.
        shares = dict(
            conn.execute(
                "SELECT granularity, SUM(length(histogram) + length(status_counts) + 60) "
                "FROM rollups GROUP BY granularity"
            ).fetchall()
        )
    result_bytes = sum(
        v for k, v in sizes.items() if k.startswith(("results", "sqlite_autoindex_results"))
    )
    rollup_bytes = sum(v for k, v in sizes.items() if k.startswith("rollups"))
    total_share = shares["minute"] + shares["hour"]
    return {
        "result": result_bytes / results,
        "minute": rollup_bytes * shares["minute"] / total_share / minute,
        "hour": rollup_bytes * shares["hour"] / total_share / hour,
    }


async def _storage(data: Path) -> dict[str, float]:
    sample = _synthetic(monitors=10, hours=24, interval=30)
    path = data / "storage.sqlite3"
    store = SQLiteMonitorStore(path)
    await store.open()
    for m in sorted({r.monitor_id for r in sample}):
        await store.add_monitor(
            Monitor(
                id=m, spec=MonitorSpec(name=m, url="http://127.0.0.1/"), created_at=0, updated_at=0
            )
        )
    for i in range(0, len(sample), 500):
        await store.record_results(sample[i : i + 500])
    await store.close()
    per_row = _bytes_per_row(path)
    per_day = {"result": MONITORS * _DAY / 30, "minute": MONITORS * 1440, "hour": MONITORS * 24}
    kept = {
        "result": per_day["result"] * 2,
        "minute": per_day["minute"] * 14,
        "hour": per_day["hour"] * 400,
    }
    return {
        **{f"bytes_per_{k}_row": v for k, v in per_row.items()},
        **{f"{k}_rows_per_day": v for k, v in per_day.items()},
        **{f"{k}_rows_kept": v for k, v in kept.items()},
        "bytes_kept_total": sum(kept[k] * per_row[k] for k in kept),
        "bytes_added_per_day": sum(per_day[k] * per_row[k] for k in per_day),
    }


async def run(url: str, seconds: float = 20.0, rounds: int = 3) -> dict[str, Any]:
    """Every figure of the monitors benchmark, against the site at ``url``."""
    with tempfile.TemporaryDirectory(prefix="bench-monitors-") as tmp:
        data = Path(tmp)
        gather = await _gather_rate(url, rounds)
        checker, checker_failed = await _checker_rate(_monitors(url), rounds)
        at_5s = await _scheduled(url, 5, seconds, data)
        at_1s = await _scheduled(url, 1, seconds, data)
        sample = _synthetic(monitors=100, hours=1, interval=5)
        one = await _aggregator(data, 1, sample)
        hundred = await _aggregator(data, 100, sample)
        storage = await _storage(data)
    return {
        "monitors": MONITORS,
        "concurrency": CONCURRENCY,
        "gather_requests_per_second": gather,
        "checker_checks_per_second": checker,
        "checker_vs_gather": checker / gather,
        "checker_failed_checks": checker_failed,
        "scheduled_5s": at_5s,
        "scheduled_1s": at_1s,
        "sustained_vs_gather": at_1s["checks_per_second"] / gather,
        "aggregator_results_per_second_batch_1": one,
        "aggregator_results_per_second_batch_100": hundred,
        "storage_1000_monitors_30s": storage,
    }


def table(figures: dict[str, Any]) -> str:
    """The figures as aligned text lines."""
    s5, s1 = figures["scheduled_5s"], figures["scheduled_1s"]
    st = figures["storage_1000_monitors_30s"]
    kept_rows = st["result_rows_kept"] + st["minute_rows_kept"] + st["hour_rows_kept"]
    rows = [
        (
            "asyncio.gather of httpx GETs (baseline)",
            f"{figures['gather_requests_per_second']:.0f} req/s",
        ),
        (
            "checker, no scheduler or store",
            (
                f"{figures['checker_checks_per_second']:.0f} checks/s "
                f"({figures['checker_vs_gather']:.2f}x gather)"
            ),
        ),
        (
            "scheduled, 1,000 at 5 s (demand 200/s)",
            f"{s5['checks_per_second']:.0f} checks/s, lateness p99 {s5['lateness_p99_ms']:.0f} ms",
        ),
        (
            "scheduled, 1,000 at 1 s (demand 1000/s)",
            (
                f"{s1['checks_per_second']:.0f} checks/s ({figures['sustained_vs_gather']:.2f}x "
                f"gather), lateness p99 {s1['lateness_p99_ms']:.0f} ms"
            ),
        ),
        (
            "aggregator, 1 result per transaction",
            f"{figures['aggregator_results_per_second_batch_1']:.0f} results/s",
        ),
        (
            "aggregator, 100 results per transaction",
            f"{figures['aggregator_results_per_second_batch_100']:.0f} results/s",
        ),
        (
            "bytes per row: result / minute / hour",
            (
                f"{st['bytes_per_result_row']:.0f} / {st['bytes_per_minute_row']:.0f} / "
                f"{st['bytes_per_hour_row']:.0f}"
            ),
        ),
        (
            "1,000 monitors at 30 s, default retention",
            f"{kept_rows:.3g} rows, {st['bytes_kept_total'] / 1e9:.1f} GB kept",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _start_site() -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    site = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.monitor_site", str(port)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert site.stdout is not None
    if site.stdout.readline().strip() != "ready":
        site.kill()
        raise RuntimeError("the benchmark site did not start")
    return site, f"http://127.0.0.1:{port}"


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.monitors")
    parser.add_argument("--seconds", type=float, default=20.0, help="each scheduled run")
    parser.add_argument("--rounds", type=int, default=3, help="gather and checker rounds")
    parser.add_argument(
        "--concurrency", type=int, default=100, help="connections and checks in flight"
    )
    parser.add_argument(
        "--results", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "monitors.json"
    )
    args = parser.parse_args(argv)
    global CONCURRENCY  # noqa: PLW0603 - one run, one setting
    CONCURRENCY = args.concurrency
    site, url = _start_site()
    try:
        figures = asyncio.run(run(url, args.seconds, args.rounds))
    finally:
        site.terminate()
        site.wait(10)
    print(table(figures))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
