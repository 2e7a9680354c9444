"""The Kafka scale-out benchmark's arithmetic: rates, latency, CPU per event, the table."""

from __future__ import annotations

import pytest

from benchmarks.kafka_scale import KafkaBenchConfig, shape_figures, summarize
from benchmarks.report import render_table


def test_a_shape_reports_cpu_per_event_per_process_kind_and_in_total() -> None:
    figures = shape_figures(
        2_000,
        0.5,
        [0.040, 0.010, 0.030, 0.020],  # not sorted: the figures sort them
        {"replicas": 0.030, "forwarders": 0.020, "broker": 0.010, "influxd": 0.004},
    )
    assert figures["events_per_s"] == 4_000
    assert figures["batch_latency_ms_p50"] == 20.0
    assert figures["batch_latency_ms_p99"] == 40.0
    assert figures["cpu_us_per_event"] == {
        "replicas": 15.0,
        "forwarders": 10.0,
        "broker": 5.0,
        "influxd": 2.0,
    }
    assert figures["cpu_us_per_event_total"] == 32.0


def _shape(replicas: int, forwarders: int, rate: int, replica_cpu: float) -> dict[str, object]:
    cpu = {"replicas": replica_cpu, "forwarders": 0.01, "broker": 0.01, "influxd": 0.01}
    return {
        "replicas": replicas,
        "forwarders": forwarders,
        **shape_figures(1_000, 1_000 / rate, [0.02], cpu),
    }


def test_the_summary_names_every_shape_and_kind_against_the_outbox() -> None:
    outbox = shape_figures(1_000, 0.1, [0.01], {"service": 0.030, "influxd": 0.005})
    shapes = [_shape(r, f, 5_000 * r, 0.015) for r, f in KafkaBenchConfig().shapes]
    doc = summarize(outbox, shapes, KafkaBenchConfig())
    assert doc["outbox_events_per_s"] == 10_000
    assert doc["outbox_cpu_us_per_event_service"] == 30.0
    assert doc["outbox_cpu_us_per_event_influxd"] == 5.0
    assert doc["outbox_cpu_us_per_event_total"] == 35.0
    for replicas, forwarders in [(1, 1), (2, 1), (3, 1), (1, 2), (3, 2)]:
        name = f"shape_{replicas}x{forwarders}"
        assert doc[f"{name}_events_per_s"] == 5_000 * replicas
        assert doc[f"{name}_vs_outbox"] == pytest.approx(replicas / 2)
        for kind in ("replicas", "forwarders", "broker", "influxd"):
            assert f"{name}_cpu_us_per_event_{kind}" in doc
        assert doc[f"{name}_cpu_us_per_event_replicas"] == 15.0
        assert doc[f"{name}_cpu_us_per_event_total"] == 45.0
    assert (doc["best_events_per_s"], doc["best_vs_outbox"]) == (15_000, 1.5)


def test_the_table_shows_cpu_per_event_of_each_kind_and_the_totals() -> None:
    outbox = shape_figures(1_000, 0.1, [0.01], {"service": 0.030, "influxd": 0.005})
    shapes = [_shape(r, f, 5_000, 0.0155) for r, f in KafkaBenchConfig().shapes]
    table = render_table({"kafka": summarize(outbox, shapes, KafkaBenchConfig())})

    def row(label: str) -> str:
        return next(line for line in table.splitlines() if label in line)

    assert "15.5" in row("API replicas CPU per event")
    assert "10" in row("forwarders CPU per event")
    assert "10" in row("broker CPU per event")
    assert "35" in row("kafka: outbox, all processes, CPU per event")
    assert "45.5" in row("kafka: 3 x 2, all processes, CPU per event")
