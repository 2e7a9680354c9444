"""The probe's smaller parts: backoff, SSE parsing, configuration, error reasons, metrics."""

from __future__ import annotations

import argparse

import pytest
from prometheus_client import CollectorRegistry

from stats_client.exceptions import DeliveryTimeoutError, ServiceError, TransportError
from stats_client.probe.config import ProbeConfig, add_arguments, config_from
from stats_client.probe.listener import Backoff, sse_messages
from stats_client.probe.metrics import ProbeMetrics
from stats_client.probe.runner import post_error_reason
from stats_client.probe.tracker import Tracker


def test_backoff_grows_to_its_cap_with_jitter_and_resets() -> None:
    bounds: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        bounds.append((low, high))
        return high

    backoff = Backoff(initial_seconds=1.0, max_seconds=8.0, uniform=uniform)
    delays = [backoff.next_delay() for _ in range(6)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert bounds[3] == (4.0, 8.0)
    backoff.reset()
    assert backoff.next_delay() == 1.0
    for _ in range(100):  # forever: no attempt limit, no overflow
        assert backoff.next_delay() <= 8.0


def test_sse_frames_are_parsed_and_comments_skipped() -> None:
    lines = [
        ": open",
        "",
        "retry: 2000",
        "",
        "id: a",
        'data: {"x": 1}',
        "",
        ": heartbeat",
        "",
        "event: error",
        'data: {"error": {}}',
        "",
    ]
    assert list(sse_messages(iter(lines))) == [
        ("a", "message", '{"x": 1}'),
        (None, "error", '{"error": {}}'),
    ]


def test_configuration_takes_flags_over_environment_over_defaults() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--interval-seconds", "2.5"])
    env = {
        "STATS_PROBE_INTERVAL_SECONDS": "7",
        "STATS_PROBE_METRICS_PORT": "9100",
        "STATS_PROBE_URL": "http://svc:1",
    }
    config = config_from(args, env)
    assert config.interval_seconds == 2.5
    assert config.metrics_port == 9100
    assert config.url == "http://svc:1"
    assert config.mark_lost_after_seconds == ProbeConfig().mark_lost_after_seconds == 300.0
    assert ProbeConfig().interval_seconds == 10.0
    assert "secret" not in repr(config_from(None, {"STATS_PROBE_TOKEN": "secret"}))
    with pytest.raises(ValueError, match="positive"):
        config_from(None, {"STATS_PROBE_INTERVAL_SECONDS": "0"})


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (TransportError("down"), "connection"),
        (DeliveryTimeoutError("slow"), "timeout"),
        (ServiceError("busy", status=503), "unavailable"),
        (ServiceError("no", status=422), "rejected"),
    ],
    ids=["transport", "timeout", "5xx", "4xx"],
)
def test_post_errors_get_a_reason(error: Exception, reason: str) -> None:
    assert post_error_reason(error) == reason


def test_metrics_follow_the_tracker_and_carry_the_documented_names() -> None:
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    tracker = Tracker("p", {"1m": 60.0, "3m": 180.0, "10m": 600.0}, mark_lost_after_seconds=1.0)
    tracker.due("a", 0, 0.0)
    tracker.posted("a")
    tracker.tick(5.0)
    metrics.update(tracker)
    metrics.update(tracker)  # idempotent
    assert registry.get_sample_value("probe_events_posted_total") == 1.0
    assert registry.get_sample_value("probe_events_lost_total") == 1.0
    assert registry.get_sample_value("probe_events_missing_share", {"window": "1m"}) == 1.0
    names = {metric.name for metric in registry.collect()}
    assert {
        "probe_events_posted",
        "probe_events_received",
        "probe_events_lost",
        "probe_event_post_errors",
        "probe_events_duplicates",
        "probe_events_out_of_order",
        "probe_wrong_appid",
        "probe_event_latency_seconds",
        "probe_events_missing_share",
        "probe_up",
        "probe_last_received_timestamp_seconds",
    } <= names
