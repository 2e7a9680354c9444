"""The line-protocol phase of the batch benchmark: its points, figures, and their report."""

from __future__ import annotations

import sys
import textwrap

from benchmarks.__main__ import run_batch
from benchmarks.ingest_vs_raw_write import lineprotocol_figures, point, telegraf_figures
from benchmarks.lineprotocol_write import lineprotocol_point
from benchmarks.report import PhaseCost, render_table
from benchmarks.telegraf_peer import telegraf_config, telegraf_executable
from stats_service.events.lineprotocol_parse import parse_line
from stats_service.storage.influx.lineprotocol import encode_event


def test_points_drop_only_the_identity_tag_and_parse_back():
    event = point(7)
    sent = lineprotocol_point(event)
    assert sent.tags == {k: v for k, v in event.tags.items() if k != "identity"}
    assert sent.fields == event.fields
    parsed = parse_line(encode_event(sent).encode())
    assert parsed.fields["event_id"] == event.event_id
    assert parsed.time_ns == event.time_ns


def test_figures_are_ratios_to_the_raw_phase_of_the_same_run():
    raw = PhaseCost(points_per_s=100_000, influxd_cpu_us=7.0, generator_cpu_us=1.0)
    lines = PhaseCost(
        points_per_s=10_000, influxd_cpu_us=8.0, generator_cpu_us=2.0, service_cpu_us=49.0
    )
    assert lineprotocol_figures(raw, lines) == {
        "lineprotocol_points_per_s": 10_000,
        "lineprotocol_ratio": 0.1,
        "lineprotocol_service_cpu_us_per_point": 49.0,
        "lineprotocol_influxd_cpu_us_per_point": 8.0,
        "lineprotocol_service_cpu_vs_influxd": 7.0,
    }


def test_runner_keeps_the_figures_and_the_table_shows_them_with_targets(tmp_path, monkeypatch):
    (tmp_path / "fake_lp_bench.py").write_text(
        textwrap.dedent(
            """
            def run(events):
                return {
                    "points_per_s": 9000.0,
                    "baseline_points_per_s": 90000.0,
                    "lineprotocol_points_per_s": 45000,
                    "lineprotocol_ratio": 0.5,
                    "lineprotocol_service_cpu_us_per_point": 20.0,
                    "lineprotocol_service_cpu_vs_influxd": 2.5,
                }
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "fake_lp_bench", raising=False)
    result = run_batch("fake_lp_bench:run", events=10, work_dir=tmp_path, log=print)
    assert result["lineprotocol_ratio"] == 0.5
    table = render_table({"batch_ingest": result})
    assert "line protocol: ratio to raw /write" in table
    assert ">= 0.5 (met)" in table
    assert "<= 2.0 (not met)" in table


def test_telegraf_config_and_figures():
    config = telegraf_config(18086, "http://127.0.0.1:8086", 5000, 100_000)
    assert 'service_address = "127.0.0.1:18086"' in config
    assert 'urls = ["http://127.0.0.1:8086"]' in config
    assert "metric_batch_size = 5000" in config
    assert "metric_buffer_limit = 200000" in config
    ours = PhaseCost(points_per_s=8000, influxd_cpu_us=8.0, generator_cpu_us=1.0, service_cpu_us=40)
    peer = PhaseCost(points_per_s=32000, influxd_cpu_us=8.0, generator_cpu_us=1.0, service_cpu_us=9)
    assert telegraf_figures(ours, peer) == {
        "telegraf_points_per_s": 32000,
        "telegraf_cpu_us_per_point": 9.0,
        "lineprotocol_vs_telegraf": 0.25,
    }


def test_telegraf_executable_prefers_the_configured_one(monkeypatch):
    monkeypatch.setenv("BENCH_TELEGRAF", "/opt/telegraf")
    assert telegraf_executable() == "/opt/telegraf"
