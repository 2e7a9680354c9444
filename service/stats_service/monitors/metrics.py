"""Prometheus series of the monitors, in an injected registry.

``monitor_up{monitor}`` (1 up, 0 down), ``monitor_response_seconds{monitor}``
(histogram), ``monitor_checks_total{monitor,result}`` (``result`` is ``ok``,
``failed`` for unmet conditions, or the error reason) and
``monitor_certificate_expiry_seconds{monitor}`` (seconds until the certificate
expires; only for verified TLS). ``monitor`` is the monitor's name.
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from stats_service.monitors.model import CheckResult

__all__ = ["MonitorMetrics"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class MonitorMetrics:
    """Records each result; forgets a monitor's series when it is deleted or renamed."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.up = Gauge(
            "monitor_up",
            "1 when the monitor's last check passed, else 0.",
            ["monitor"],
            registry=registry,
        )
        self.response = Histogram(
            "monitor_response_seconds",
            "Response time of monitor checks that got a response.",
            ["monitor"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.checks = Counter(
            "monitor_checks",
            "Monitor checks by result: ok, failed (conditions) or the error reason.",
            ["monitor", "result"],
            registry=registry,
        )
        self.certificate = Gauge(
            "monitor_certificate_expiry_seconds",
            "Seconds until the monitored server's TLS certificate expires.",
            ["monitor"],
            registry=registry,
        )

    def record(self, name: str, result: CheckResult) -> None:
        """Count one result of the monitor called ``name``."""
        self.up.labels(name).set(1 if result.ok else 0)
        if result.latency_us is not None:
            self.response.labels(name).observe(result.latency_us / 1_000_000)
        outcome = "ok" if result.ok else (result.reason.value if result.reason else "failed")
        self.checks.labels(name, outcome).inc()
        if result.cert_expires_at is not None:
            self.certificate.labels(name).set(result.cert_expires_at - result.time)

    def forget(self, name: str) -> None:
        """Drop every series of this monitor."""
        for metric in (self.up, self.response, self.certificate):
            with contextlib.suppress(KeyError):
                metric.remove(name)
        for labels in list(self.checks._metrics):
            if labels[0] == name:
                self.checks.remove(*labels)
