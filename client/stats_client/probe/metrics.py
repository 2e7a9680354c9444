"""The probe's Prometheus metrics, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from stats_client.probe.tracker import Tracker, TrackerCounts

__all__ = ["LATENCY_BUCKETS", "POST_ERROR_REASONS", "ProbeMetrics"]

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
POST_ERROR_REASONS = ("connection", "timeout", "rejected", "unavailable", "other")
"""Why a post failed (``probe_event_post_errors_total``)."""


class ProbeMetrics:
    """Counters follow the tracker's totals; gauges are set on every tick."""

    def __init__(
        self, registry: CollectorRegistry, windows: tuple[str, ...] = ("1m", "3m", "10m")
    ) -> None:
        self.registry = registry

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, labelnames=labels, registry=registry)

        self.posted = counter("probe_events_posted", "Probe events the service accepted (2xx).")
        self.received = counter(
            "probe_events_received", "Probe events received (stream, or confirmed by fetch)."
        )
        self.confirmed = counter(
            "probe_events_confirmed_by_fetch", "Probe events the stream missed, found by fetch."
        )
        self.lost = counter("probe_events_lost", "Probe events not received in time (once each).")
        self.late = counter("probe_events_late", "Probe events received after counted lost.")
        self.duplicates = counter("probe_events_duplicates", "Probe events received twice.")
        self.out_of_order = counter(
            "probe_events_out_of_order", "Probe events received after a later one."
        )
        self.wrong_appid = counter(
            "probe_wrong_appid", "Events on the probe's stream carrying another probe id."
        )
        self.post_errors = counter(
            "probe_event_post_errors", "Failed posts of probe events, by reason.", ("reason",)
        )
        for reason in POST_ERROR_REASONS:
            self.post_errors.labels(reason)
        self.latency = Histogram(
            "probe_event_latency_seconds",
            "From a probe event's send time to its arrival on the stream.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.missing_share = Gauge(
            "probe_events_missing_share",
            "Share of the decided probe events of the window not received.",
            ("window",),
            registry=registry,
        )
        for window in windows:
            self.missing_share.labels(window).set(0.0)
        self.up = Gauge(
            "probe_up", "1 while the listener is connected to the stream.", registry=registry
        )
        self.last_received = Gauge(
            "probe_last_received_timestamp_seconds",
            "Wall-clock time of the last probe event received.",
            registry=registry,
        )
        self._seen = TrackerCounts()

    def update(self, tracker: Tracker) -> None:
        """Bring the counters to the tracker's totals and set the missing shares."""
        now, seen = tracker.counts, self._seen
        for name, metric in (
            ("posted", self.posted),
            ("received", self.received),
            ("confirmed_by_fetch", self.confirmed),
            ("lost", self.lost),
            ("late", self.late),
            ("duplicates", self.duplicates),
            ("out_of_order", self.out_of_order),
            ("wrong_probe", self.wrong_appid),
        ):
            delta = getattr(now, name) - getattr(seen, name)
            if delta > 0:
                metric.inc(delta)
                setattr(seen, name, getattr(now, name))
        for window, share in tracker.missing_share.items():
            self.missing_share.labels(window).set(share)
