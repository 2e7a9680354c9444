"""The runner's own metrics, and its log lines about each source's health.

Per source: ``collector_up`` (1 when the last poll had no problem),
``collector_last_success_timestamp_seconds``, the
``collector_poll_duration_seconds`` histogram and
``collector_errors_total{source, reason}``. A source's health is logged
once per change of state (failing for a new set of reasons, or recovered),
not once per poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from stats_client.collect.errors import PollError

__all__ = ["SelfMetrics"]

logger = logging.getLogger("stats_client.collect")

_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class SelfMetrics:
    """Registers the four self-metrics in ``registry`` and keeps each source's health."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.up = Gauge(
            "collector_up",
            "1 when the last poll of the source succeeded without problems, else 0",
            ["source"],
            registry=registry,
        )
        self.last_success = Gauge(
            "collector_last_success_timestamp_seconds",
            "Unix time of the last poll of the source that succeeded",
            ["source"],
            registry=registry,
        )
        self.duration = Histogram(
            "collector_poll_duration_seconds",
            "Time one poll of the source took",
            ["source"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "collector_errors_total",
            "Problems met while polling, by source and reason",
            ["source", "reason"],
            registry=registry,
        )
        self._health: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()

    def start(self, sources: Sequence[str]) -> None:
        """Show every source as down until its first poll."""
        for source in sources:
            self.up.labels(source).set(0)

    def record(
        self,
        source: str,
        *,
        errors: Sequence[PollError],
        failed: bool,
        duration_seconds: float,
        wall_time: float,
    ) -> None:
        """Count one poll's outcome and log a change of the source's health."""
        self.duration.labels(source).observe(duration_seconds)
        for error in errors:
            self.errors.labels(source, error.reason.value).inc()
        self.up.labels(source).set(0 if errors else 1)
        if not failed:
            self.last_success.labels(source).set(wall_time)
        self._log_change(source, errors)

    def _log_change(self, source: str, errors: Sequence[PollError]) -> None:
        reasons = frozenset(error.reason.value for error in errors)
        with self._lock:
            before = self._health.get(source)
            self._health[source] = reasons
        if before == reasons or (before is None and not reasons):
            return
        if not reasons:
            logger.info("source %s recovered", source)
            return
        first = next(e for e in errors if e.reason.value == min(reasons))
        logger.warning(
            "source %s is failing (%s): %s", source, ", ".join(sorted(reasons)), first.message
        )
