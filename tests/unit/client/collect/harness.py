"""A runner over in-memory parts for the collector unit tests: a manual clock, no network."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from stats_client.collect import MemoryFetcher, MemorySink, MemoryStateStore, parse_config
from stats_client.collect.delta import DeltaTracker
from stats_client.collect.runner import Runner
from stats_client.collect.selfmetrics import SelfMetrics
from stats_client.collect.snapshot import SnapshotCollector, SnapshotStore
from stats_client.collect.sources import build_sources
from stats_client.collect.windows import WindowBook

TRACKER_YAML = """\
sources:
  - name: tracker
    url: http://tracker.test/summary
    interval_seconds: 60
    jitter_ratio: 0.1
    metrics:
      - name: incidents
        type: counter
        path: $.teams
        labels: {team: name}
        value: total
        delta: true
      - name: open_incidents
        type: gauge
        path: $.teams
        labels: {team: name}
        value: open
"""


def tracker_answer(**teams: tuple[float, float]) -> dict[str, object]:
    """``team=(total, open)`` pairs as the tracker's JSON."""
    return {"teams": [{"name": n, "total": t, "open": o} for n, (t, o) in teams.items()]}


@dataclass
class Clock:
    """Monotonic and wall clocks that move only when told."""

    seconds: float = 1000.0
    start: dt.datetime = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)

    def monotonic(self) -> float:
        return self.seconds

    def wall(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.seconds - 1000.0)

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


@dataclass
class Harness:
    """A runner over in-memory parts, and ways to look at what it published."""

    runner: Runner
    fetcher: MemoryFetcher
    sink: MemorySink
    state: MemoryStateStore
    registry: CollectorRegistry
    clock: Clock
    snapshot: SnapshotStore = field(repr=False)

    def text(self) -> str:
        return generate_latest(self.registry).decode()

    def value(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)


def make_harness(
    yaml_text: str = TRACKER_YAML,
    *,
    fetcher: MemoryFetcher | None = None,
    state: MemoryStateStore | None = None,
    sources=None,
    max_window_days: float = 28.0,
    seed: int = 7,
) -> Harness:
    config = parse_config(yaml_text, environ={})
    fetcher = fetcher or MemoryFetcher()
    state = state or MemoryStateStore()
    clock = Clock()
    registry = CollectorRegistry(auto_describe=False)
    snapshot = SnapshotStore()
    registry.register(SnapshotCollector(snapshot))
    deltas = DeltaTracker(state)
    sink = MemorySink()
    runner = Runner(
        sources if sources is not None else build_sources(config, fetcher=fetcher),
        snapshot=snapshot,
        self_metrics=SelfMetrics(registry),
        deltas=deltas,
        windows=WindowBook(deltas.state, cap=dt.timedelta(days=max_window_days), lock=deltas.lock),
        sink=sink,
        monotonic=clock.monotonic,
        wall=clock.wall,
        rng=random.Random(seed),
        max_backoff_seconds=600.0,
    )
    return Harness(runner, fetcher, sink, state, registry, clock, snapshot)
