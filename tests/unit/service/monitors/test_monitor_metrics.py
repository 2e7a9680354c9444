"""The Prometheus series of the monitors, in their own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from stats_service.monitors.metrics import MonitorMetrics
from stats_service.monitors.model import CheckResult, Reason


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_results_set_up_latency_outcomes_and_certificate_expiry():
    registry = CollectorRegistry()
    metrics = MonitorMetrics(registry)
    metrics.record(
        "home",
        CheckResult(
            id="1", monitor_id="m", time=1000.0, ok=True, status_code=200,
            latency_us=250_000, cert_expires_at=1000.0 + 86_400,
        ),
    )  # fmt: skip
    metrics.record(
        "home", CheckResult(id="2", monitor_id="m", time=1001.0, ok=False, reason=Reason.TIMEOUT)
    )
    metrics.record(
        "home", CheckResult(id="3", monitor_id="m", time=1002.0, ok=False, status_code=500)
    )
    assert value(registry, "monitor_up", monitor="home") == 0
    assert value(registry, "monitor_checks_total", monitor="home", result="ok") == 1
    assert value(registry, "monitor_checks_total", monitor="home", result="timeout") == 1
    assert value(registry, "monitor_checks_total", monitor="home", result="failed") == 1
    assert value(registry, "monitor_response_seconds_count", monitor="home") == 1
    assert value(registry, "monitor_response_seconds_sum", monitor="home") == 0.25
    assert value(registry, "monitor_certificate_expiry_seconds", monitor="home") == 86_400


def test_forget_drops_every_series_of_one_monitor():
    registry = CollectorRegistry()
    metrics = MonitorMetrics(registry)
    for name in ("home", "api"):
        metrics.record(name, CheckResult(id=name, monitor_id=name, time=1.0, ok=True, latency_us=5))
    metrics.forget("home")
    assert value(registry, "monitor_up", monitor="home") is None
    assert value(registry, "monitor_checks_total", monitor="home", result="ok") is None
    assert value(registry, "monitor_up", monitor="api") == 1
