"""The monitors benchmark's parts: synthetic results, the aggregator run, row sizes, the table."""

from __future__ import annotations

import asyncio
from pathlib import Path

from benchmarks import monitors as bench


def test_synthetic_results_cover_each_monitor_at_its_interval():
    results = bench._synthetic(monitors=3, hours=1, interval=30)
    assert len(results) == 3 * 120
    assert len({r.id for r in results}) == len(results)
    assert {r.monitor_id for r in results} == {"mon_000000", "mon_000001", "mon_000002"}


def test_the_aggregator_run_applies_every_result_and_row_sizes_are_measured(tmp_path: Path):
    results = bench._synthetic(monitors=2, hours=2, interval=30)
    rate = asyncio.run(bench._aggregator(tmp_path, 10, results))
    assert rate > 0
    sizes = bench._bytes_per_row(tmp_path / "aggregate-10.sqlite3")
    assert all(value > 0 for value in sizes.values())
    assert sizes["hour"] > sizes["minute"]  # an hour row's histogram holds more buckets


def test_the_table_names_every_figure():
    storage = {
        "bytes_per_result_row": 150.0, "bytes_per_minute_row": 110.0, "bytes_per_hour_row": 800.0,
        "result_rows_kept": 5.76e6, "minute_rows_kept": 2.016e7, "hour_rows_kept": 9.6e6,
        "bytes_kept_total": 1.2e10,
    }  # fmt: skip
    scheduled = {"checks_per_second": 190.0, "lateness_p99_ms": 12.0}
    text = bench.table(
        {
            "gather_requests_per_second": 400.0,
            "checker_checks_per_second": 380.0,
            "checker_vs_gather": 0.95,
            "scheduled_5s": scheduled,
            "scheduled_1s": scheduled,
            "sustained_vs_gather": 0.475,
            "aggregator_results_per_second_batch_1": 1000.0,
            "aggregator_results_per_second_batch_100": 9000.0,
            "storage_1000_monitors_30s": storage,
        }
    )
    assert "400 req/s" in text
    assert "0.95x gather" in text
    assert "12.0 GB kept" in text
    assert len(text.splitlines()) == 8
