"""The collector figures reach the table, and a failed collector section is a problem."""

from __future__ import annotations

from benchmarks.__main__ import SECTIONS, _checks
from benchmarks.report import SCHEMA_VERSION, render_table


def test_collect_is_a_section():
    assert "collect" in SECTIONS


def test_the_table_shows_the_collector_figures():
    doc = {
        "schema_version": SCHEMA_VERSION,
        "collect": {
            "poll_ms_per_1000_series": 61.5,
            "poll_snapshot_only_ms_per_1000_series": 16.2,
            "baseline_poll_ms_per_1000_series": 4.1,
            "poll_ratio": 15.0,
            "scrape_ms_p50": 120.0,
            "baseline_scrape_ms_p50": 240.0,
            "scrape_ratio": 0.5,
        },
    }
    lines = render_table(doc).splitlines()
    row = next(line for line in lines if line.startswith("collect: poll ratio"))
    assert row.split()[-1] == "15.0"
    row = next(line for line in lines if line.startswith("collect: scrape ratio"))
    assert row.split()[-1] == "0.50"
    assert any(line.startswith("collect: /metrics with 10,000 series p50") for line in lines)


def test_a_failed_collector_run_is_a_problem():
    problems = _checks({"schema_version": SCHEMA_VERSION, "collect": {"failed": "boom"}})
    assert "collect failed: boom" in problems
