"""The metric catalogue, the recorder and the scrape-time collector, on injected registries."""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from stats_service.auth import AuthenticationFailed
from stats_service.delivery.queue import OutboxStatus as DeliveryStatus
from stats_service.errors import Forbidden, InvalidEvent, NotFound, PayloadTooLarge
from stats_service.observability.catalogue import CATALOGUE, FORWARD_ERROR_KINDS, INGEST_PATHS
from stats_service.observability.gauges import OutboxSnapshot, ScrapeTimeCollector
from stats_service.observability.recorder import Metrics, MetricsRecorder, NullMetrics

_UNIT_SUFFIXES = ("_total", "_seconds", "_bytes", "_events", "_info", "_pending", "_up", "_clients")


def _metrics(**kwargs) -> tuple[Metrics, CollectorRegistry]:
    registry = CollectorRegistry()
    return Metrics(registry, version="9.9.9", **kwargs), registry


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def _scrape(collector: ScrapeTimeCollector) -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_catalogue_names_are_unique_and_carry_units():
    names = [spec.name for spec in CATALOGUE]
    assert len(names) == len(set(names))
    for spec in CATALOGUE:
        assert spec.name.endswith(_UNIT_SUFFIXES), spec.name
        assert re.fullmatch(r"[a-z_]+", spec.name)
        assert (spec.kind == "counter") == spec.name.endswith("_total"), spec.name
        assert spec.doc


def test_every_service_metric_of_the_catalogue_is_registered():
    _, registry = _metrics()
    exposed = {
        family.name + ("_total" if family.type == "counter" else "")
        for family in registry.collect()
    }
    wanted = {spec.name for spec in CATALOGUE if spec.source == "service"}
    assert wanted == exposed


def test_known_label_values_start_at_zero():
    _, registry = _metrics()
    for path in INGEST_PATHS:
        assert _value(registry, "stats_events_accepted_total", path=path) == 0.0
    for kind in FORWARD_ERROR_KINDS:
        assert _value(registry, "stats_forward_errors_total", kind=kind) == 0.0
    assert _value(registry, "stats_auth_failures_total", reason="bad_signature") == 0.0
    assert _value(registry, "stats_events_rejected_total", reason="invalid_event") == 0.0


def test_counting_methods_move_their_counters():
    metrics, registry = _metrics()
    metrics.events_accepted(3, "/log/events")
    metrics.events_accepted(1, "/log/event")
    metrics.events_accepted(0, "/log/event")
    metrics.events_rejected(2, "invalid_event")
    metrics.events_rejected(0, "bad_request")
    metrics.auth_failed("expired")
    metrics.forwarded(500, 0.2)
    metrics.forward_error("unavailable")
    metrics.dead_lettered(4)
    assert _value(registry, "stats_events_accepted_total", path="/log/events") == 3.0
    assert _value(registry, "stats_events_accepted_total", path="/log/event") == 1.0
    assert _value(registry, "stats_events_rejected_total", reason="invalid_event") == 2.0
    assert _value(registry, "stats_events_rejected_total", reason="bad_request") == 0.0
    assert _value(registry, "stats_auth_failures_total", reason="expired") == 1.0
    assert _value(registry, "stats_events_forwarded_total") == 500.0
    assert _value(registry, "stats_forward_batch_duration_seconds_count") == 1.0
    assert _value(registry, "stats_forward_batch_duration_seconds_bucket", le="0.25") == 1.0
    assert _value(registry, "stats_forward_batch_duration_seconds_bucket", le="0.1") == 0.0
    assert _value(registry, "stats_forward_errors_total", kind="unavailable") == 1.0
    assert _value(registry, "stats_deadletters_total") == 4.0


def test_a_failed_empty_batch_still_times_the_attempt():
    metrics, registry = _metrics()
    metrics.forwarded(0, 1.5)
    assert _value(registry, "stats_events_forwarded_total") == 0.0
    assert _value(registry, "stats_forward_batch_duration_seconds_count") == 1.0


@pytest.mark.parametrize(
    "value",
    ["has space", "x" * 65, 'quote"', "new\nline", ""],
    ids=["space", "too-long", "quote", "newline", "empty"],
)
def test_unsafe_label_values_are_folded_into_other(value):
    metrics, registry = _metrics()
    metrics.events_rejected(1, value)
    assert _value(registry, "stats_events_rejected_total", reason="other") == 1.0


@pytest.mark.parametrize(
    ("method", "route", "exc", "rejected", "auth"),
    [
        (
            "POST",
            "/log/event",
            AuthenticationFailed("bad_signature"),
            "unauthorized",
            "bad_signature",
        ),
        ("POST", "/log/events", AuthenticationFailed("missing"), "unauthorized", "missing"),
        ("GET", "/log/events", AuthenticationFailed("expired"), None, "expired"),
        ("POST", "/log/event", Forbidden("no write scope"), "forbidden", "forbidden"),
        ("POST", "/log/event", InvalidEvent("bad", key="uid"), "invalid_event", None),
        ("POST", "/log/events", PayloadTooLarge("big"), "payload_too_large", None),
        ("GET", "/log/event/{event_id}", NotFound("nope"), None, None),
        ("POST", None, NotFound("nope"), None, None),
    ],
    ids=[
        "ingest-bad-signature",
        "batch-missing-token",
        "query-expired-token",
        "ingest-forbidden",
        "invalid-event",
        "batch-too-large",
        "fetch-not-found",
        "no-route",
    ],
)
def test_observe_error_counts_auth_failures_and_refused_ingests(method, route, exc, rejected, auth):
    metrics, registry = _metrics()
    metrics.observe_error(method, route, exc)
    rejected_total = sum(
        s.value
        for f in registry.collect()
        if f.name == "stats_events_rejected"
        for s in f.samples
        if s.name.endswith("_total")
    )
    auth_total = sum(
        s.value
        for f in registry.collect()
        if f.name == "stats_auth_failures"
        for s in f.samples
        if s.name.endswith("_total")
    )
    assert rejected_total == (1.0 if rejected else 0.0)
    assert auth_total == (1.0 if auth else 0.0)
    if rejected:
        assert _value(registry, "stats_events_rejected_total", reason=rejected) == 1.0
    if auth:
        assert _value(registry, "stats_auth_failures_total", reason=auth) == 1.0


def test_scrape_collector_reports_build_info_without_an_outbox():
    samples = _scrape(ScrapeTimeCollector(version="1.2.3"))
    assert samples == {"stats_build_info": 1.0}


def test_scrape_collector_reads_the_outbox_status_at_each_scrape():
    calls = []
    statuses = iter(
        [
            OutboxSnapshot(
                pending_events=7,
                pending_bytes=700,
                max_pending_events=100,
                max_pending_bytes=10_000,
                oldest_pending_age_seconds=12.5,
                dead_letters=2,
                backend_ok=False,
            ),
            OutboxSnapshot(pending_events=0, oldest_pending_age_seconds=None, backend_ok=True),
        ]
    )

    def status():
        calls.append(1)
        return next(statuses)

    collector = ScrapeTimeCollector(version="1", status=status)
    registry = CollectorRegistry()
    registry.register(collector)
    assert calls == [], "registering must not call the status callback"
    first = _scrape(collector)
    assert first["stats_outbox_depth_events"] == 7.0
    assert first["stats_outbox_bytes"] == 700.0
    assert first["stats_outbox_capacity_events"] == 100.0
    assert first["stats_outbox_capacity_bytes"] == 10_000.0
    assert first["stats_outbox_oldest_age_seconds"] == 12.5
    assert first["stats_deadletters_pending"] == 2.0
    assert first["stats_backend_up"] == 0.0
    second = _scrape(collector)
    assert second["stats_outbox_depth_events"] == 0.0
    assert second["stats_outbox_oldest_age_seconds"] == 0.0
    assert second["stats_backend_up"] == 1.0
    assert len(calls) == 2


def test_unknown_backend_health_leaves_the_gauge_out():
    samples = _scrape(ScrapeTimeCollector(version="1", status=lambda: OutboxSnapshot(3)))
    assert samples["stats_outbox_depth_events"] == 3.0
    assert "stats_backend_up" not in samples


def test_a_failing_status_callback_does_not_break_the_scrape(caplog):
    def broken():
        raise RuntimeError("database is locked")

    samples = _scrape(ScrapeTimeCollector(version="1", status=broken))
    assert samples == {"stats_build_info": 1.0}
    assert "outbox status could not be read" in caplog.text


def test_watch_outbox_attaches_and_detaches_the_status():
    metrics, _ = _metrics()
    assert "stats_outbox_depth_events" not in _scrape(metrics.scrape_collector)
    metrics.watch_outbox(lambda: OutboxSnapshot(pending_events=5))
    assert _scrape(metrics.scrape_collector)["stats_outbox_depth_events"] == 5.0
    metrics.watch_outbox(None)
    assert "stats_outbox_depth_events" not in _scrape(metrics.scrape_collector)


def test_scrape_time_names_match_the_catalogue():
    full = OutboxSnapshot(1, 2, 3, 4, 5.0, 6, backend_ok=True)
    names = set(_scrape(ScrapeTimeCollector(version="1", status=lambda: full)))
    assert names == {spec.name for spec in CATALOGUE if spec.source == "scrape"}


def test_the_delivery_outbox_status_is_read_as_it_is():
    """``DurableStore.status_sync`` returns this type; it must need no adapter."""
    status = DeliveryStatus(
        state="retrying",
        ready=True,
        pending_events=11,
        pending_bytes=1100,
        max_pending_events=1000,
        max_pending_bytes=100_000,
        oldest_pending_age_seconds=30.0,
        forward_rate_events_per_second=0.0,
        dead_letters=1,
        last_error="connection refused",
        last_error_age_seconds=1.0,
        backend="influxdb",
        backend_ok=False,
    )
    samples = _scrape(ScrapeTimeCollector(version="1", status=lambda: status))
    assert samples["stats_outbox_depth_events"] == 11.0
    assert samples["stats_outbox_capacity_events"] == 1000.0
    assert samples["stats_outbox_oldest_age_seconds"] == 30.0
    assert samples["stats_deadletters_pending"] == 1.0
    assert samples["stats_backend_up"] == 0.0


def test_null_metrics_satisfies_the_recorder_protocol_and_records_nothing():
    recorder: MetricsRecorder = NullMetrics()
    recorder.events_accepted(1, "/log/event")
    recorder.events_rejected(1, "invalid_event")
    recorder.auth_failed("missing")
    recorder.forwarded(1, 0.1)
    recorder.forward_error("rejected")
    recorder.dead_lettered(1)
    recorder.watch_outbox(OutboxSnapshot)
    recorder.observe_error("POST", "/log/event", InvalidEvent("bad"))
    assert vars(recorder) == {}


def test_two_apps_can_have_their_own_registries():
    first, first_registry = _metrics()
    _, second_registry = _metrics()
    first.events_accepted(2, "/log/event")
    assert _value(first_registry, "stats_events_accepted_total", path="/log/event") == 2.0
    assert _value(second_registry, "stats_events_accepted_total", path="/log/event") == 0.0
