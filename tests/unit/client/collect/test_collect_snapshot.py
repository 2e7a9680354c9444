"""How readings are exposed: every metric type, buckets, and families built once per poll."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from stats_client.collect.model import MetricDef, Reading
from stats_client.collect.snapshot import SnapshotCollector, SnapshotStore


def exposed(*readings: Reading) -> CollectorRegistry:
    store = SnapshotStore()
    store.update("src", readings)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(store))
    return registry


def test_summary_exposes_count_and_sum_of_the_latest_answer():
    metric = MetricDef("ack_seconds", "summary", "Time to acknowledge", ("team",))
    registry = exposed(Reading(metric, observations={("a",): (1.0, 2.0, 6.0)}))
    assert registry.get_sample_value("ack_seconds_count", {"team": "a"}) == 3.0
    assert registry.get_sample_value("ack_seconds_sum", {"team": "a"}) == 9.0


def test_histogram_buckets_are_cumulative_with_inf():
    metric = MetricDef("resolve", "histogram", "h", (), buckets=(1.0, 5.0))
    registry = exposed(Reading(metric, observations={(): (0.5, 1.0, 3.0, 9.0)}))
    assert registry.get_sample_value("resolve_bucket", {"le": "1.0"}) == 2.0
    assert registry.get_sample_value("resolve_bucket", {"le": "5.0"}) == 3.0
    assert registry.get_sample_value("resolve_bucket", {"le": "+Inf"}) == 4.0
    assert registry.get_sample_value("resolve_count", {}) == 4.0


def test_histogram_without_buckets_uses_the_prometheus_defaults():
    metric = MetricDef("latency", "histogram", "h")
    text = generate_latest(exposed(Reading(metric, observations={(): (0.2,)}))).decode()
    assert 'latency_bucket{le="0.005"} 0.0' in text
    assert 'latency_bucket{le="0.25"} 1.0' in text


def test_counter_names_get_total_once():
    counter = MetricDef("incidents_total", "counter", "h")
    text = generate_latest(exposed(Reading(counter, samples={(): 5.0}))).decode()
    assert "# TYPE incidents_total counter" in text
    assert "incidents_total 5.0" in text
    assert "incidents_total_total" not in text


def test_updates_replace_a_metric_whole_and_leave_the_others():
    gauge = MetricDef("g", "gauge", "h", ("k",))
    other = MetricDef("o", "gauge", "h")
    store = SnapshotStore()
    store.update(
        "src",
        [Reading(gauge, samples={("a",): 1.0, ("b",): 2.0}), Reading(other, samples={(): 3.0})],
    )
    store.update("src", [Reading(gauge, samples={("a",): 4.0})])
    assert store.series() == 2
    assert store.readings("src")["o"].samples == {(): 3.0}
    first, second = store.families(), store.families()
    assert first[0] is second[0]  # a scrape reuses the families built at poll time
