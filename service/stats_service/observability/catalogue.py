"""The metric catalogue: every metric the service exposes, with its type, labels and meaning.

Dashboards, alert rules and the operations guide are checked against
:data:`CATALOGUE`; the label values listed here start at zero on every
scrape, so rates work from the first one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "AUTH_REASONS",
    "CATALOGUE",
    "FORWARD_ERROR_KINDS",
    "INGEST_PATHS",
    "KAFKA_PRODUCE_ERROR_KINDS",
    "METRICS_PATH",
    "REJECT_REASONS",
    "STREAM_DROP_REASONS",
    "MetricSpec",
]

METRICS_PATH = "/metrics"
"""Where the metrics are served; never itself instrumented."""

INGEST_PATHS = ("/log/event", "/log/events")
"""Route templates whose refused requests count as rejected events."""

FORWARD_ERROR_KINDS = ("unavailable", "rejected")
"""``unavailable``: the backend could not be reached or answered 5xx/429 (retried);
``rejected``: the backend refused points (they go to the dead letters)."""

KAFKA_PRODUCE_ERROR_KINDS = ("timeout", "broker", "queue_full")
"""``timeout``: no acknowledgement within the produce timeout; ``broker``: a broker
refused or could not be reached; ``queue_full``: the producer's local queue was full."""

AUTH_REASONS = (
    "missing",
    "malformed",
    "bad_signature",
    "expired",
    "unknown",
    "revoked",
    "forbidden",
)
"""Why credentials were refused (``stats_auth_failures_total``)."""
REJECT_REASONS = (
    "bad_request",
    "unauthorized",
    "forbidden",
    "payload_too_large",
    "unsupported_media_type",
    "invalid",
    "invalid_event",
    "unavailable",
)
"""The error codes of refused events (``stats_events_rejected_total``)."""

STREAM_DROP_REASONS = ("slow_consumer", "shutdown")
"""Why the service ended a live stream (``stream_dropped_total``): the client fell
more than a buffer behind, or the service stopped."""


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One exposed metric: its name as scraped, type, labels and meaning."""

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    labels: tuple[str, ...]
    doc: str
    source: Literal["service", "scrape", "http"] = "service"
    """``service``: counted by the code; ``scrape``: computed at scrape time;
    ``http``: recorded by the HTTP instrumentation."""


CATALOGUE: tuple[MetricSpec, ...] = (
    MetricSpec(
        "stats_events_accepted_total",
        "counter",
        ("path",),
        "Events stored durably (2xx), by ingest route.",
    ),
    MetricSpec(
        "stats_events_rejected_total",
        "counter",
        ("reason",),
        "Events refused, by error code; a request refused as a whole counts once, "
        "an invalid item of a batch counts once.",
    ),
    MetricSpec(
        "stats_events_forwarded_total",
        "counter",
        (),
        "Events the forwarder wrote from the outbox to the storage backend.",
    ),
    MetricSpec(
        "stats_forward_batch_duration_seconds",
        "histogram",
        (),
        "Time to write one forwarded batch to the storage backend.",
    ),
    MetricSpec(
        "stats_forward_errors_total",
        "counter",
        ("kind",),
        "Failed forward attempts: unavailable (retried) or rejected (dead-lettered).",
    ),
    MetricSpec(
        "stats_deadletters_total",
        "counter",
        (),
        "Points the storage backend refused that were moved to the dead letters.",
    ),
    MetricSpec(
        "stats_auth_failures_total",
        "counter",
        ("reason",),
        "Requests refused by token authentication (or missing scope: forbidden), by reason.",
    ),
    MetricSpec(
        "stream_clients",
        "gauge",
        (),
        "Live stream clients (SSE and WebSocket) connected now.",
    ),
    MetricSpec(
        "stream_dropped_total",
        "counter",
        ("reason",),
        "Live streams the service ended: slow_consumer or shutdown.",
    ),
    MetricSpec(
        "stats_kafka_produce_errors_total",
        "counter",
        ("kind",),
        "Appends to Kafka that failed (answered 503), by kind.",
    ),
    MetricSpec(
        "stats_kafka_produce_duration_seconds",
        "histogram",
        (),
        "Time from producing a batch of events to the brokers' acknowledgement of all of it.",
    ),
    MetricSpec(
        "stats_kafka_consumer_lag_events",
        "gauge",
        ("partition",),
        "Messages behind the high watermark, per partition this forwarder holds.",
    ),
    MetricSpec(
        "stats_outbox_depth_events",
        "gauge",
        (),
        "Events waiting in the durable outbox.",
        "scrape",
    ),
    MetricSpec(
        "stats_outbox_bytes",
        "gauge",
        (),
        "Size of the events waiting in the durable outbox.",
        "scrape",
    ),
    MetricSpec(
        "stats_outbox_capacity_events",
        "gauge",
        (),
        "The outbox bound of waiting events; ingestion answers 503 beyond it.",
        "scrape",
    ),
    MetricSpec(
        "stats_outbox_capacity_bytes",
        "gauge",
        (),
        "The outbox bound of waiting bytes; ingestion answers 503 beyond it.",
        "scrape",
    ),
    MetricSpec(
        "stats_outbox_oldest_age_seconds",
        "gauge",
        (),
        "Age of the oldest event waiting in the outbox (0 when empty).",
        "scrape",
    ),
    MetricSpec(
        "stats_deadletters_pending",
        "gauge",
        (),
        "Dead letters stored and not yet replayed.",
        "scrape",
    ),
    MetricSpec(
        "stats_backend_up",
        "gauge",
        (),
        "1 when the last contact with the storage backend succeeded, else 0.",
        "scrape",
    ),
    MetricSpec(
        "stats_build_info",
        "gauge",
        ("version",),
        "Always 1; the version label says which release runs.",
        "scrape",
    ),
    MetricSpec(
        "http_requests_total",
        "counter",
        ("handler", "method", "status"),
        "HTTP requests by route template, method and status code (/metrics excluded).",
        "http",
    ),
    MetricSpec(
        "http_request_duration_seconds",
        "histogram",
        ("handler", "method"),
        "HTTP request latency by route template and method (/metrics excluded).",
        "http",
    ),
)
