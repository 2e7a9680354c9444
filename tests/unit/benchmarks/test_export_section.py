"""The export section of ``make bench``: selectable, sized by a flag, shown in the table."""

from __future__ import annotations

from benchmarks.__main__ import SECTIONS, parse_config
from benchmarks.report import render_table


def test_the_export_section_is_selectable_and_sized_by_a_flag():
    assert "export" in SECTIONS
    config = parse_config(["--only", "export", "--export-events", "5000"], {})
    assert config.sections == ("export",)
    assert config.export_events == 5000
    assert parse_config([], {"BENCH_EXPORT_EVENTS": "777"}).export_events == 777


def test_the_table_shows_both_backends_and_their_ratios():
    doc = {
        "export": {
            "embedded": {"events_per_s": 30000.0, "baseline_events_per_s": 100000.0, "ratio": 0.3},
            "influxdb": {"events_per_s": 15000.0, "baseline_events_per_s": 90000.0, "ratio": 0.167},
        }
    }
    table = render_table(doc)
    assert "export: embedded store, events/s" in table
    assert "export: InfluxDB ratio" in table
    assert "0.17" in table
    assert "15,000" in table
