"""The recorder the service counts with: :class:`Metrics`, or :class:`NullMetrics`.

``events_accepted``, ``events_rejected``, ``auth_failed``, ``forwarded``,
``forward_error``, ``dead_lettered``; bound to a registry passed in, so an app
(or a test) owns its metrics and nothing is registered at import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from stats_service.errors import StatsServiceError
from stats_service.observability.catalogue import (
    AUTH_REASONS,
    CATALOGUE,
    FORWARD_ERROR_KINDS,
    INGEST_PATHS,
    KAFKA_PRODUCE_ERROR_KINDS,
    REJECT_REASONS,
    STREAM_DROP_REASONS,
)
from stats_service.observability.gauges import OutboxStatusSource, ScrapeTimeCollector
from stats_service.observability.http_series import HttpSeries

__all__ = ["Metrics", "MetricsRecorder", "NullMetrics"]

_FORWARD_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_SAFE_LABEL = re.compile(r"[A-Za-z0-9_./{}-]{1,64}")
_OTHER = "other"


class MetricsRecorder(Protocol):
    """The counting API the service and the forwarder call."""

    def events_accepted(self, count: int, path: str) -> None:
        """``count`` events were stored durably through ``path``."""
        ...

    def events_rejected(self, count: int, reason: str) -> None:
        """``count`` events were refused with error code ``reason``."""
        ...

    def auth_failed(self, reason: str) -> None:
        """A request failed token authentication for ``reason``."""
        ...

    def forwarded(self, count: int, seconds: float) -> None:
        """A batch of ``count`` events reached the backend in ``seconds``."""
        ...

    def forward_error(self, kind: str) -> None:
        """A forward attempt failed: ``unavailable`` or ``rejected``."""
        ...

    def dead_lettered(self, count: int) -> None:
        """``count`` points were moved to the dead letters."""
        ...

    def produce_error(self, kind: str) -> None:
        """An append to Kafka failed: ``timeout``, ``broker`` or ``queue_full``."""
        ...

    def produced(self, count: int, seconds: float) -> None:
        """Kafka acknowledged a batch of ``count`` events after ``seconds``."""
        ...

    def lag(self, per_partition: Mapping[int, int]) -> None:
        """The forwarder's lag behind the high watermark, per held partition."""
        ...

    def watch_outbox(self, status: OutboxStatusSource | None) -> None:
        """Read outbox gauges from ``status`` at scrape time (None: no outbox)."""
        ...

    def observe_http(self, handler: str, method: str, status: int, seconds: float) -> None:
        """One request answered outside the HTTP instrumentation (the ingest lane)."""
        ...

    def observe_error(self, method: str, route: str | None, exc: StatsServiceError) -> None:
        """Count an error answered to a client (``route`` is the route template)."""
        ...


def _label(value: str) -> str:
    """Label values come from code, but never let one explode cardinality."""
    return value if _SAFE_LABEL.fullmatch(value) else _OTHER


class Metrics:
    """Our counters and histograms in one registry, behind small methods.

    Every known label value is created at zero up front, so rates and
    ``increase()`` work from the first scrape and dashboards show zeros rather
    than gaps.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        version: str,
        outbox_status: OutboxStatusSource | None = None,
        http: HttpSeries | None = None,
    ) -> None:
        self.registry = registry
        self._http = http
        docs = {spec.name: spec.doc for spec in CATALOGUE}

        def counter(name: str, labels: Sequence[str] = ()) -> Counter:
            return Counter(name, docs[name], labelnames=labels, registry=registry)

        self._accepted = counter("stats_events_accepted_total", ["path"])
        self._rejected = counter("stats_events_rejected_total", ["reason"])
        self._forwarded = counter("stats_events_forwarded_total")
        self._forward_errors = counter("stats_forward_errors_total", ["kind"])
        self._deadletters = counter("stats_deadletters_total")
        self._auth_failures = counter("stats_auth_failures_total", ["reason"])
        self._forward_duration = Histogram(
            "stats_forward_batch_duration_seconds",
            docs["stats_forward_batch_duration_seconds"],
            buckets=_FORWARD_BUCKETS,
            registry=registry,
        )
        self._kafka_errors = counter("stats_kafka_produce_errors_total", ["kind"])
        self._kafka_produce = Histogram(
            "stats_kafka_produce_duration_seconds",
            docs["stats_kafka_produce_duration_seconds"],
            buckets=_FORWARD_BUCKETS,
            registry=registry,
        )
        self._kafka_lag = Gauge(
            "stats_kafka_consumer_lag_events",
            docs["stats_kafka_consumer_lag_events"],
            labelnames=["partition"],
            registry=registry,
        )
        self._children: dict[tuple[Counter, str], Counter] = {}
        for kind in KAFKA_PRODUCE_ERROR_KINDS:
            self._child(self._kafka_errors, kind)
        for path in INGEST_PATHS:
            self._child(self._accepted, path)
        for reason in REJECT_REASONS:
            self._child(self._rejected, reason)
        for kind in FORWARD_ERROR_KINDS:
            self._child(self._forward_errors, kind)
        for reason in AUTH_REASONS:
            self._child(self._auth_failures, reason)
        self._stream_clients = Gauge(
            "stream_clients",
            docs["stream_clients"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._stream_dropped = counter("stream_dropped_total", ["reason"])
        for reason in STREAM_DROP_REASONS:
            self._child(self._stream_dropped, reason)
        self.scrape_collector = ScrapeTimeCollector(version=version, status=outbox_status)

    def _child(self, parent: Counter, value: str) -> Counter:
        key = (parent, value)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = parent.labels(_label(value))
        return child

    def events_accepted(self, count: int, path: str) -> None:
        """``count`` events were stored durably through ``path``."""
        if count > 0:
            self._child(self._accepted, path).inc(count)

    def events_rejected(self, count: int, reason: str) -> None:
        """``count`` events were refused with error code ``reason``."""
        if count > 0:
            self._child(self._rejected, reason).inc(count)

    def auth_failed(self, reason: str) -> None:
        """A request failed token authentication for ``reason``."""
        self._child(self._auth_failures, reason).inc()

    def forwarded(self, count: int, seconds: float) -> None:
        """A batch of ``count`` events reached the backend in ``seconds``."""
        if count > 0:
            self._forwarded.inc(count)
        self._forward_duration.observe(max(seconds, 0.0))

    def forward_error(self, kind: str) -> None:
        """A forward attempt failed: ``unavailable`` or ``rejected``."""
        self._child(self._forward_errors, kind).inc()

    def dead_lettered(self, count: int) -> None:
        """``count`` points were moved to the dead letters."""
        if count > 0:
            self._deadletters.inc(count)

    def produce_error(self, kind: str) -> None:
        """An append to Kafka failed: ``timeout``, ``broker`` or ``queue_full``."""
        self._child(self._kafka_errors, kind).inc()

    def produced(self, count: int, seconds: float) -> None:
        """Kafka acknowledged a batch of ``count`` events after ``seconds``."""
        self._kafka_produce.observe(max(seconds, 0.0))

    def lag(self, per_partition: Mapping[int, int]) -> None:
        """The forwarder's lag behind the high watermark, per held partition."""
        for partition, messages in per_partition.items():
            self._kafka_lag.labels(str(partition)).set(messages)

    def watch_outbox(self, status: OutboxStatusSource | None) -> None:
        """Read outbox gauges from ``status`` at scrape time (None: no outbox)."""
        self.scrape_collector.status = status

    def observe_http(self, handler: str, method: str, status: int, seconds: float) -> None:
        """One request answered outside the HTTP instrumentation (the ingest lane).

        Recorded in the instrumentation's own series (``http``), so such
        requests count exactly like the others; without ``http``, ignored.
        """
        if self._http is not None:
            self._http.observe(handler, method, str(status), max(seconds, 0.0))

    def stream_clients(self, delta: int) -> None:
        """Live stream clients came (``delta`` > 0) or went."""
        self._stream_clients.inc(delta)

    def stream_dropped(self, reason: str) -> None:
        """The service ended a live stream for ``reason`` (see ``STREAM_DROP_REASONS``)."""
        self._child(self._stream_dropped, reason).inc()

    def observe_error(self, method: str, route: str | None, exc: StatsServiceError) -> None:
        """Count an error answered to a client: auth failures and refused ingests.

        The error handlers installed by :func:`install_metrics` call this; code
        that answers errors by itself (outside FastAPI's handlers) calls it too.
        """
        reason = exc.auth_failure_reason
        if reason is not None:
            self.auth_failed(reason)
        if method == "POST" and route in INGEST_PATHS:
            self.events_rejected(1, exc.code)


class NullMetrics:
    """A :class:`MetricsRecorder` that records nothing (metrics off, or tests)."""

    def events_accepted(self, count: int, path: str) -> None:
        """Ignored."""

    def events_rejected(self, count: int, reason: str) -> None:
        """Ignored."""

    def auth_failed(self, reason: str) -> None:
        """Ignored."""

    def forwarded(self, count: int, seconds: float) -> None:
        """Ignored."""

    def forward_error(self, kind: str) -> None:
        """Ignored."""

    def dead_lettered(self, count: int) -> None:
        """Ignored."""

    def produce_error(self, kind: str) -> None:
        """Ignored."""

    def produced(self, count: int, seconds: float) -> None:
        """Ignored."""

    def lag(self, per_partition: Mapping[int, int]) -> None:
        """Ignored."""

    def watch_outbox(self, status: OutboxStatusSource | None) -> None:
        """Ignored."""

    def observe_http(self, handler: str, method: str, status: int, seconds: float) -> None:
        """Ignored."""

    def observe_error(self, method: str, route: str | None, exc: StatsServiceError) -> None:
        """Ignored."""
