"""The latest readings of every source, and the prometheus_client Collector that serves them.

Polls replace a metric's reading whole, so a label set that vanished
upstream vanishes from ``/metrics``; a metric whose poll failed keeps its
last reading. Scrapes only read what the last polls left (the families are
built once per poll, not per scrape) and never call an upstream.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

from prometheus_client import Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    SummaryMetricFamily,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample  # noqa: F401 - re-exported type for readers

from stats_client.collect.model import Reading

__all__ = ["SnapshotCollector", "SnapshotStore", "family_of"]

_DEFAULT_BUCKETS = tuple(b for b in Histogram.DEFAULT_BUCKETS if b != float("inf"))


def _buckets(reading: Reading, observations: tuple[float, ...]) -> list[tuple[str, float]]:
    bounds = reading.metric.buckets or _DEFAULT_BUCKETS
    ordered = sorted(observations)
    out: list[tuple[str, float]] = []
    index = 0
    for bound in bounds:
        while index < len(ordered) and ordered[index] <= bound:
            index += 1
        out.append((repr(float(bound)), float(index)))
    out.append(("+Inf", float(len(ordered))))
    return out


def family_of(reading: Reading) -> Metric:
    """The prometheus_client family that exposes ``reading``."""
    metric = reading.metric
    labels = list(metric.label_names)
    family: Metric
    if metric.type == "counter":
        counter = CounterMetricFamily(metric.name, metric.help, labels=labels)
        for values, total in reading.samples.items():
            counter.add_metric(list(values), total)
        family = counter
    elif metric.type == "gauge":
        gauge = GaugeMetricFamily(metric.name, metric.help, labels=labels)
        for values, value in reading.samples.items():
            gauge.add_metric(list(values), value)
        family = gauge
    elif metric.type == "summary":
        summary = SummaryMetricFamily(metric.name, metric.help, labels=labels)
        for values, observed in reading.observations.items():
            summary.add_metric(list(values), count_value=len(observed), sum_value=sum(observed))
        family = summary
    else:
        histogram = HistogramMetricFamily(metric.name, metric.help, labels=labels)
        for values, observed in reading.observations.items():
            histogram.add_metric(list(values), _buckets(reading, observed), sum(observed))
        family = histogram
    return family


class SnapshotStore:
    """The latest reading of each metric of each source (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readings: dict[str, dict[str, Reading]] = {}
        self._families: dict[str, dict[str, Metric]] = {}

    def update(self, source: str, readings: Iterable[Reading]) -> None:
        """Replace the readings of these metrics of ``source``; the others stay as they were."""
        built = [(reading, family_of(reading)) for reading in readings]
        with self._lock:
            current = self._readings.setdefault(source, {})
            families = self._families.setdefault(source, {})
            for reading, family in built:
                current[reading.metric.name] = reading
                families[reading.metric.name] = family

    def readings(self, source: str) -> dict[str, Reading]:
        """The current readings of ``source`` by metric name."""
        with self._lock:
            return dict(self._readings.get(source, {}))

    def families(self) -> list[Metric]:
        """Every family, sources in name order, metrics in name order."""
        with self._lock:
            return [
                family
                for source in sorted(self._families)
                for _, family in sorted(self._families[source].items())
            ]

    def series(self) -> int:
        """How many label sets the snapshot holds."""
        with self._lock:
            return sum(r.series() for m in self._readings.values() for r in m.values())


class SnapshotCollector(Collector):
    """A prometheus_client Collector yielding the snapshot as it is at scrape time."""

    def __init__(self, store: SnapshotStore) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        yield from self._store.families()

    def describe(self) -> Iterator[Metric]:
        return iter(())
