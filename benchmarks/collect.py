"""Collectors: poll-and-publish cost per 1,000 series and ``/metrics`` scrape latency.

Both figures are measured next to a plain ``prometheus_client`` registry
holding the same series, in the same process and run:

* poll and publish: one poll of a source whose answer holds 1,000 label
  sets (JSONPath extraction, duplicate check, snapshot, self-metrics, and
  events queued through the SDK to an in-memory transport) against setting
  the same 1,000 children of a labelled ``Gauge`` from the same decoded
  answer with plain dict access. Rounds alternate the sides; the figures
  are medians. The SDK's background delivery is drained between rounds and
  not timed (``log()`` is). A snapshot-only run (events off) is reported too.
* scrape: ``GET /metrics`` over loopback from ``prometheus_client``'s own
  HTTP server, once over the collector's registry with 10,000 series and
  once over a plain registry with the same 10,000 gauge children.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.report import percentile, ratio

__all__ = ["CollectBenchConfig", "run_collect"]

_URL = "http://upstream.bench/items"


@dataclass(frozen=True, slots=True)
class CollectBenchConfig:
    """Sizes and repetitions of the collector benchmark."""

    poll_series: int = 1_000
    poll_rounds: int = 40
    scrape_series: int = 10_000
    scrapes: int = 30


def _answer(series: int, bump: int) -> dict[str, Any]:
    return {
        "items": [
            {"team": f"team-{i % 50}", "env": f"env-{i // 50}", "open": (i * 7 + bump) % 97}
            for i in range(series)
        ]
    }


def _yaml(series_name: str) -> str:
    return (
        "sources:\n"
        "  - name: bench\n"
        f"    url: {_URL}\n"
        "    metrics:\n"
        f"      - name: {series_name}\n"
        "        type: gauge\n"
        "        path: $.items\n"
        "        labels: {team: team, env: env}\n"
        "        value: open\n"
    )


def _collector(
    answer: dict[str, Any], *, events: bool
) -> tuple[Any, Callable[[], None], Callable[[], None]]:
    """A runner over one source answering ``answer``: its registry, a poll, a drain of events."""
    from prometheus_client import CollectorRegistry  # noqa: PLC0415 - the collect extra

    from stats_client import MemoryTransport  # noqa: PLC0415
    from stats_client.collect import (  # noqa: PLC0415
        AnalyticsSink,
        MemoryFetcher,
        MemoryStateStore,
        parse_config,
    )
    from stats_client.collect.delta import DeltaTracker  # noqa: PLC0415
    from stats_client.collect.runner import Runner  # noqa: PLC0415
    from stats_client.collect.selfmetrics import SelfMetrics  # noqa: PLC0415
    from stats_client.collect.snapshot import SnapshotCollector, SnapshotStore  # noqa: PLC0415
    from stats_client.collect.sources import build_sources  # noqa: PLC0415
    from stats_client.collect.windows import WindowBook  # noqa: PLC0415

    fetcher = MemoryFetcher({_URL: answer})
    config = parse_config(_yaml("bench_open"), environ={})
    registry = CollectorRegistry(auto_describe=False)
    snapshot = SnapshotStore()
    registry.register(SnapshotCollector(snapshot))
    deltas = DeltaTracker(MemoryStateStore())
    sink = (
        AnalyticsSink(
            transport=MemoryTransport(),
            max_queue_events=1_000_000,
            max_queue_bytes=1 << 30,
            flush_interval_seconds=0.05,
            flush_at_exit=False,
        )
        if events
        else None
    )
    runner = Runner(
        build_sources(config, fetcher=fetcher),
        snapshot=snapshot,
        self_metrics=SelfMetrics(registry),
        deltas=deltas,
        windows=WindowBook(deltas.state, cap=dt.timedelta(days=28), lock=deltas.lock),
        sink=sink,
        rng=random.Random(1),
    )

    def poll() -> None:
        (outcome,) = runner.poll_all()
        if not outcome.ok:
            raise RuntimeError(f"the benchmark poll failed: {outcome.errors}")

    def drain() -> None:
        if sink is not None and not sink.flush(60.0):
            raise RuntimeError("the SDK did not drain the benchmark events")

    return registry, poll, drain


def _plain(answer: dict[str, Any]) -> tuple[Any, Callable[[], None]]:
    from prometheus_client import CollectorRegistry, Gauge  # noqa: PLC0415

    registry = CollectorRegistry(auto_describe=False)
    gauge = Gauge("plain_open", "open items", ["team", "env"], registry=registry)

    def poll() -> None:
        for item in answer["items"]:
            gauge.labels(item["team"], item["env"]).set(item["open"])

    return registry, poll


def _timed(function: Callable[[], None]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def _poll_figures(config: CollectBenchConfig) -> dict[str, Any]:
    answer = _answer(config.poll_series, 0)
    _, with_events, drain = _collector(answer, events=True)
    _, snapshot_only, _ = _collector(answer, events=False)
    _, plain = _plain(answer)
    per_1000 = 1000.0 / config.poll_series
    times: dict[str, list[float]] = {"events": [], "snapshot": [], "plain": []}
    for function in (with_events, snapshot_only, plain):  # warm up every side once
        function()
    for index in range(config.poll_rounds):
        order = [("events", with_events), ("snapshot", snapshot_only), ("plain", plain)]
        if index % 2:
            order.reverse()
        for name, function in order:
            times[name].append(_timed(function) * 1000.0 * per_1000)
            drain()  # the SDK delivers in the background; not part of the poll's cost
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "poll_ms_per_1000_series": round(medians["events"], 3),
        "poll_snapshot_only_ms_per_1000_series": round(medians["snapshot"], 3),
        "baseline_poll_ms_per_1000_series": round(medians["plain"], 3),
        "poll_ratio": round(ratio(medians["events"], medians["plain"]), 2),
        "poll_snapshot_only_ratio": round(ratio(medians["snapshot"], medians["plain"]), 2),
        "poll_rounds": config.poll_rounds,
        "poll_series": config.poll_series,
    }


def _scrape_ms(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        body = response.read()
    elapsed = (time.perf_counter() - started) * 1000.0
    if not body:
        raise RuntimeError(f"{url} answered nothing")
    return elapsed


def _scrape_figures(config: CollectBenchConfig) -> dict[str, Any]:
    from prometheus_client import start_http_server  # noqa: PLC0415

    answer = _answer(config.scrape_series, 3)
    ours, poll, _ = _collector(answer, events=False)
    poll()
    plain, fill = _plain(answer)
    fill()
    servers = []
    try:
        urls = {}
        for name, registry in (("ours", ours), ("plain", plain)):
            server, _ = start_http_server(0, "127.0.0.1", registry)
            servers.append(server)
            urls[name] = f"http://127.0.0.1:{server.server_address[1]}/metrics"
        lines = {}
        for name, url in urls.items():
            with urllib.request.urlopen(url, timeout=30) as response:
                text = response.read().decode()
            lines[name] = sum(1 for line in text.splitlines() if "_open{" in line)
        if lines["ours"] != config.scrape_series or lines["plain"] != config.scrape_series:
            raise RuntimeError(f"series served: {lines}, expected {config.scrape_series} each")
        times: dict[str, list[float]] = {"ours": [], "plain": []}
        for index in range(config.scrapes):
            order = ["ours", "plain"] if index % 2 == 0 else ["plain", "ours"]
            for name in order:
                times[name].append(_scrape_ms(urls[name]))
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    ours_ms = sorted(times["ours"])
    plain_ms = sorted(times["plain"])
    return {
        "scrape_ms_p50": round(statistics.median(ours_ms), 2),
        "scrape_ms_p99": round(percentile(ours_ms, 99), 2),
        "baseline_scrape_ms_p50": round(statistics.median(plain_ms), 2),
        "baseline_scrape_ms_p99": round(percentile(plain_ms, 99), 2),
        "scrape_ratio": round(ratio(statistics.median(ours_ms), statistics.median(plain_ms)), 2),
        "scrape_series": config.scrape_series,
        "scrapes": config.scrapes,
    }


def run_collect(config: CollectBenchConfig, log: Callable[[str], None]) -> dict[str, Any]:
    """Both comparisons; the figures for ``latest.json`` under ``collect``."""
    result = _poll_figures(config)
    log(
        f"  poll and publish: {result['poll_ms_per_1000_series']:.2f} ms per 1,000 series "
        f"(snapshot only {result['poll_snapshot_only_ms_per_1000_series']:.2f}) vs plain "
        f"prometheus_client {result['baseline_poll_ms_per_1000_series']:.2f} ms: "
        f"ratio {result['poll_ratio']:.1f}"
    )
    result.update(_scrape_figures(config))
    log(
        f"  /metrics with {config.scrape_series:,} series: p50 {result['scrape_ms_p50']:.1f} ms "
        f"vs plain {result['baseline_scrape_ms_p50']:.1f} ms: ratio {result['scrape_ratio']:.2f}"
    )
    return result
