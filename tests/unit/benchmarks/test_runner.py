"""Unit tests of how the benchmark runner calls the batch benchmark and shapes its answer."""

from __future__ import annotations

import sys
import textwrap

import pytest

from benchmarks.__main__ import BatchUnavailable, run_batch


@pytest.fixture
def batch_module(tmp_path, monkeypatch):
    """Writes a module ``fake_batch_bench`` whose ``run`` answers what the test says."""

    def write(body: str) -> str:
        (tmp_path / "fake_batch_bench.py").write_text(textwrap.dedent(body), encoding="utf-8")
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.delitem(sys.modules, "fake_batch_bench", raising=False)
        return "fake_batch_bench:run"

    return write


def test_run_batch_takes_the_rates_and_the_cpu_figures(batch_module, tmp_path):
    entry = batch_module(
        """
        def run(events, log):
            log(f"{events} events")
            return {
                "points_per_s": 30_000.0,
                "baseline_points_per_s": 300_000.0,
                "service_cpu_us_per_event": 33.7,
                "cpu_bound_ratio": 0.142,
                "influxd_cpu_us_per_point_raw": "not a number",
            }
        """
    )
    lines: list[str] = []
    result = run_batch(entry, events=1000, work_dir=tmp_path, log=lines.append)
    assert lines[0] == "1000 events"
    assert result["ratio"] == 0.1
    assert result["service_cpu_us_per_event"] == 33.7
    assert result["cpu_bound_ratio"] == 0.142
    assert "influxd_cpu_us_per_point_raw" not in result  # only numbers are taken
    assert result["raw"]["influxd_cpu_us_per_point_raw"] == "not a number"


def test_run_batch_without_cpu_figures_has_only_the_rates(batch_module, tmp_path):
    entry = batch_module(
        """
        def run(events):
            return {"points_per_s": 50.0, "baseline_points_per_s": 100.0}
        """
    )
    result = run_batch(entry, events=10, work_dir=tmp_path, log=print)
    assert result["ratio"] == 0.5
    assert "cpu_bound_ratio" not in result


def test_run_batch_of_a_missing_module_is_unavailable(tmp_path):
    with pytest.raises(BatchUnavailable, match="not there"):
        run_batch("no_such_batch_bench:run", events=10, work_dir=tmp_path, log=print)
