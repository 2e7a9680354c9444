"""Minute and hour rollups of check results: what one row holds and how rows combine.

A :class:`Rollup` is one row per (monitor, granularity, bucket start): the
number of checks and of good ones, response-time min/max/sum over the checks
that got a response (whole microseconds, so sums are exact), a
:class:`~stats_service.monitors.histogram.LatencyHistogram`, and counts per
status code and per error reason. Every part is *added* to, never overwritten,
so rows merge associatively: an hour row equals the merge of its minute rows,
exactly. Applying a result twice is prevented by the stores, which apply a
result only when its id is new (see :mod:`stats_service.monitors.store`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from stats_service.monitors.histogram import LatencyHistogram
from stats_service.monitors.model import CheckResult

__all__ = ["GRANULARITIES", "Granularity", "Rollup", "bucket_start", "rollups_of"]

Granularity = Literal["minute", "hour"]
GRANULARITIES: dict[Granularity, int] = {"minute": 60, "hour": 3600}
"""Bucket width in seconds of each granularity."""


def bucket_start(time: float, granularity: Granularity) -> int:
    """The Unix second at which the bucket holding ``time`` starts."""
    width = GRANULARITIES[granularity]
    return int(time // width) * width


@dataclass(slots=True)
class Rollup:
    """One aggregated row; empty until results are added."""

    monitor_id: str
    granularity: Granularity
    start: int
    count: int = 0
    ok_count: int = 0
    rt_count: int = 0
    rt_min_us: int | None = None
    rt_max_us: int | None = None
    rt_sum_us: int = 0
    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)
    status_counts: dict[str, int] = field(default_factory=dict)
    error_counts: dict[str, int] = field(default_factory=dict)

    def add(self, result: CheckResult) -> None:
        """Count one result."""
        self.count += 1
        self.ok_count += 1 if result.ok else 0
        if result.latency_us is not None:
            self._add_latency(result.latency_us)
        if result.status_code is not None:
            key = str(result.status_code)
            self.status_counts[key] = self.status_counts.get(key, 0) + 1
        if result.reason is not None:
            self.error_counts[result.reason.value] = (
                self.error_counts.get(result.reason.value, 0) + 1
            )

    def _add_latency(self, latency_us: int) -> None:
        self.rt_count += 1
        self.rt_sum_us += latency_us
        self.rt_min_us = latency_us if self.rt_min_us is None else min(self.rt_min_us, latency_us)
        self.rt_max_us = latency_us if self.rt_max_us is None else max(self.rt_max_us, latency_us)
        self.histogram.add(latency_us)

    def merge(self, other: Rollup) -> None:
        """Add another row's counts into this one (any granularity or start)."""
        self.count += other.count
        self.ok_count += other.ok_count
        self.rt_count += other.rt_count
        self.rt_sum_us += other.rt_sum_us
        if other.rt_min_us is not None:
            self.rt_min_us = (
                other.rt_min_us if self.rt_min_us is None else min(self.rt_min_us, other.rt_min_us)
            )
        if other.rt_max_us is not None:
            self.rt_max_us = (
                other.rt_max_us if self.rt_max_us is None else max(self.rt_max_us, other.rt_max_us)
            )
        self.histogram.merge(other.histogram)
        for key, count in other.status_counts.items():
            self.status_counts[key] = self.status_counts.get(key, 0) + count
        for key, count in other.error_counts.items():
            self.error_counts[key] = self.error_counts.get(key, 0) + count

    def quantile_ms(self, q: float) -> float | None:
        """A latency quantile in milliseconds, read from the histogram."""
        value = self.histogram.quantile(q)
        return None if value is None else value / 1000

    def public(self) -> dict[str, Any]:
        """The API's view of the row (times in milliseconds)."""
        return {
            "monitor_id": self.monitor_id,
            "granularity": self.granularity,
            "start": self.start,
            "count": self.count,
            "ok_count": self.ok_count,
            "rt_min_ms": None if self.rt_min_us is None else self.rt_min_us / 1000,
            "rt_max_ms": None if self.rt_max_us is None else self.rt_max_us / 1000,
            "rt_avg_ms": self.rt_sum_us / self.rt_count / 1000 if self.rt_count else None,
            "p50_ms": self.quantile_ms(0.5),
            "p95_ms": self.quantile_ms(0.95),
            "p99_ms": self.quantile_ms(0.99),
            "status_counts": dict(sorted(self.status_counts.items())),
            "error_counts": dict(sorted(self.error_counts.items())),
        }

    def columns(self) -> dict[str, Any]:
        """The row's stored columns (histogram and counts as JSON-ready dicts)."""
        return {
            "monitor_id": self.monitor_id,
            "granularity": self.granularity,
            "start": self.start,
            "count": self.count,
            "ok_count": self.ok_count,
            "rt_count": self.rt_count,
            "rt_min_us": self.rt_min_us,
            "rt_max_us": self.rt_max_us,
            "rt_sum_us": self.rt_sum_us,
            "histogram": self.histogram.to_json(),
            "status_counts": self.status_counts,
            "error_counts": self.error_counts,
        }

    @classmethod
    def from_columns(cls, row: dict[str, Any]) -> Rollup:
        """The inverse of :meth:`columns`."""
        return cls(
            monitor_id=row["monitor_id"],
            granularity=row["granularity"],
            start=int(row["start"]),
            count=int(row["count"]),
            ok_count=int(row["ok_count"]),
            rt_count=int(row["rt_count"]),
            rt_min_us=row["rt_min_us"],
            rt_max_us=row["rt_max_us"],
            rt_sum_us=int(row["rt_sum_us"]),
            histogram=LatencyHistogram.from_json(row["histogram"]),
            status_counts={str(k): int(v) for k, v in row["status_counts"].items()},
            error_counts={str(k): int(v) for k, v in row["error_counts"].items()},
        )


def rollups_of(results: Iterable[CheckResult]) -> dict[tuple[str, Granularity, int], Rollup]:
    """The minute and hour rows these results make, keyed by (monitor, granularity, start)."""
    rows: dict[tuple[str, Granularity, int], Rollup] = {}
    for result in results:
        for granularity in GRANULARITIES:
            key = (result.monitor_id, granularity, bucket_start(result.time, granularity))
            row = rows.get(key)
            if row is None:
                row = rows[key] = Rollup(result.monitor_id, granularity, key[2])
            row.add(result)
    return rows
