"""The collector benchmark runs end to end on small sizes and reports sane figures."""

from __future__ import annotations

import pytest

from benchmarks.collect import CollectBenchConfig, run_collect

pytestmark = pytest.mark.integration


def test_a_small_collector_benchmark_run():
    lines: list[str] = []
    config = CollectBenchConfig(poll_series=200, poll_rounds=3, scrape_series=500, scrapes=3)
    result = run_collect(config, lines.append)
    for key in ("poll_ms_per_1000_series", "baseline_poll_ms_per_1000_series", "scrape_ms_p50"):
        assert result[key] > 0
    assert result["poll_ratio"] == pytest.approx(
        result["poll_ms_per_1000_series"] / result["baseline_poll_ms_per_1000_series"], rel=0.05
    )
    assert result["scrape_series"] == 500
    assert len(lines) == 2
    assert "per 1,000 series" in lines[0]
