"""Unit tests of the pure parts of the benchmark report: parsing, arithmetic, schema, table."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from benchmarks import report
from benchmarks.report import (
    REQUIRED_KEYS,
    SCHEMA_VERSION,
    PhaseCost,
    WrkOutputError,
    cpu_bound_ratio,
    cpu_percent,
    lookup,
    median_ratio,
    parse_proc_stat_cpu_ticks,
    parse_proc_stat_ppid,
    parse_proc_status_rss_kib,
    parse_wrk_output,
    percentile,
    ratio,
    render_table,
    rss_trend,
    summarise_folded_stacks,
    validate_results,
)

# A line printed by wrk/post_json.lua's done() in a real run.
WRK_LINE = (
    'WRK_RESULT {"duration_us":5017522,"requests":23751,"bytes":3918915,"non_2xx":3,'
    '"errors":{"connect":0,"read":2,"write":1,"status":3,"timeout":4},'
    '"latency_us":{"min":913.000,"mean":16546.110,"stdev":27160.899,"max":452840.000,'
    '"p50":13145.000,"p90":17603.000,"p99":159747.000,"p999":363256.000}}'
)
WRK_TEXT = (
    "Running 5s test @ http://127.0.0.1:28002/log/event\n"
    "  2 threads and 64 connections\n"
    "Requests/sec:   4733.62\n" + WRK_LINE + "\n"
)
RESULTS_DIR = Path(__file__).resolve().parents[3] / "benchmarks" / "results"


def complete_doc() -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": "2026-01-01T00:00:00+00:00",
        "environment": {"cpu_count": 2, "python_version": "3.11.7", "git_commit": "abc123"},
        "single_event": {
            "events_per_s": 2000.0,
            "baseline_events_per_s": 5000.0,
            "ratio": 0.4,
            "errors": 0,
        },
        "batch_ingest": {
            "points_per_s": 70_000.0,
            "baseline_points_per_s": 90_000,
            "ratio": 0.78,
            "service_cpu_us_per_event": 4.25,
            "cpu_bound_ratio": 0.81,
        },
        "client": {"log_p99_us": 18.4, "delivered_events_per_s": 25_000.0},
        "service": {"max_rss_mb": 57.8, "rss_growth_mb": 0.02},
    }


# --- wrk output ------------------------------------------------------------------------------


def test_parse_wrk_output_reads_every_figure():
    result = parse_wrk_output(WRK_TEXT)
    assert result.duration_s == pytest.approx(5.017522)
    assert result.requests == 23751
    assert result.bytes_read == 3918915
    assert result.non_2xx == 3
    assert (result.connect_errors, result.read_errors, result.write_errors) == (0, 2, 1)
    assert result.timeouts == 4
    assert result.status_errors == 3
    assert result.latency_us["p50"] == 13145.0
    assert result.latency_us["p99"] == 159747.0
    assert result.latency_us["p999"] == 363256.0


def test_wrk_errors_are_non_2xx_plus_socket_errors():
    result = parse_wrk_output(WRK_TEXT)
    assert result.socket_errors == 0 + 2 + 1 + 4
    assert result.errors == 3 + 7


def test_wrk_rates_count_all_requests_and_only_2xx():
    result = parse_wrk_output(WRK_TEXT)
    assert result.requests_per_s == pytest.approx(23751 / 5.017522)
    assert result.ok_per_s == pytest.approx((23751 - 3) / 5.017522)
    assert result.as_dict()["requests"] == 23751


def test_parse_wrk_output_takes_the_last_result_line():
    earlier = WRK_LINE.replace('"requests":23751', '"requests":1')
    assert parse_wrk_output(earlier + "\n" + WRK_TEXT).requests == 23751


def test_the_lua_script_prints_what_the_parser_reads():
    script = (Path(report.__file__).parent / "wrk" / "post_json.lua").read_text()
    assert f'io.write("{report.WRK_MARKER}{{"' in script
    for key in ("duration_us", "requests", "bytes", "non_2xx", "errors", "latency_us"):
        assert f'"{key}":' in script


@pytest.mark.parametrize(
    "text",
    [
        "Requests/sec: 100\n",
        "WRK_RESULT not json\n",
        "WRK_RESULT [1, 2]\n",
        WRK_LINE.replace('"errors":{', '"errs":{'),
        WRK_LINE.replace('"requests":23751', '"requests":-1'),
        WRK_LINE.replace('"requests":23751', '"requests":2.5'),
        WRK_LINE.replace('"requests":23751', '"requests":true'),
        WRK_LINE.replace('"duration_us":5017522', '"duration_us":0'),
        WRK_LINE.replace('"p99":159747.000', '"p99":"slow"'),
    ],
    ids=[
        "no-marker",
        "not-json",
        "not-object",
        "no-errors",
        "negative-count",
        "fractional-count",
        "boolean-count",
        "zero-duration",
        "text-latency",
    ],
)
def test_parse_wrk_output_rejects_malformed_output(text):
    with pytest.raises(WrkOutputError):
        parse_wrk_output(text)


# --- arithmetic ------------------------------------------------------------------------------


def test_ratio_divides_by_the_baseline():
    assert ratio(1500.0, 3000.0) == 0.5


@pytest.mark.parametrize(
    "baseline", [0.0, -1.0, math.nan, math.inf], ids=["zero", "neg", "nan", "inf"]
)
def test_ratio_refuses_a_baseline_that_is_not_a_positive_number(baseline):
    with pytest.raises(ValueError, match="baseline"):
        ratio(1.0, baseline)


def test_cpu_bound_ratio_compares_the_cpu_all_processes_spend_per_point():
    raw = PhaseCost(points_per_s=300_000.0, influxd_cpu_us=5.5, generator_cpu_us=0.5)
    # 6 µs of influxd and generator, 6 µs of service: twice the CPU, half the rate.
    end_to_end = PhaseCost(
        points_per_s=30_000.0, influxd_cpu_us=5.0, generator_cpu_us=1.0, service_cpu_us=6.0
    )
    assert end_to_end.cpu_us == 12.0
    assert cpu_bound_ratio(raw, end_to_end) == 0.5


def test_cpu_bound_ratio_of_a_free_service_is_one():
    raw = PhaseCost(points_per_s=1.0, influxd_cpu_us=8.0, generator_cpu_us=1.0)
    assert cpu_bound_ratio(raw, raw) == 1.0


def test_median_ratio_is_the_median_of_per_round_ratios_not_a_ratio_of_medians():
    pairs = [(100.0, 100.0), (300.0, 100.0), (400.0, 800.0)]  # ratios 1.0, 3.0, 0.5
    assert median_ratio(pairs) == 1.0
    # The ratio of the medians would be 300 / 100 = 3.0.


def test_median_ratio_of_an_even_number_of_rounds_averages_the_middle_two():
    assert median_ratio([(1.0, 1.0), (2.0, 1.0)]) == 1.5


def test_median_ratio_needs_a_round():
    with pytest.raises(ValueError, match="no values"):
        median_ratio([])


@pytest.mark.parametrize(
    ("pct", "expected"),
    [(50, 50), (99, 99), (99.9, 100), (100, 100), (1, 1), (0.5, 1)],
    ids=["p50", "p99", "p999", "max", "p1", "below-first-rank"],
)
def test_percentile_is_nearest_rank(pct, expected):
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, pct) == expected


@pytest.mark.parametrize("pct", [0, -1, 101], ids=["zero", "negative", "over-100"])
def test_percentile_refuses_out_of_range(pct):
    with pytest.raises(ValueError, match="percentile"):
        percentile([1.0], pct)


def test_cpu_percent_is_one_hundred_for_one_busy_core():
    assert cpu_percent(15.0, 15.0) == 100.0
    assert cpu_percent(3.0, 2.0) == 150.0
    with pytest.raises(ValueError, match="wall"):
        cpu_percent(1.0, 0.0)


# --- /proc -----------------------------------------------------------------------------------

# Fields 14 and 15 (utime, stime) are 1234 and 56; the name holds spaces and a ")".
PROC_STAT = (
    "4242 (python (a) b) S 4241 4242 4241 0 -1 4194304 9000 0 0 0 1234 56 0 0 20 0 5 0 "
    "100 600000000 14000 18446744073709551615 1 1 0 0 0 0 0 16781312 17642 0 0 0 17 1 0 0 0 0 0"
)


def test_parse_proc_stat_adds_utime_and_stime_after_a_tricky_name():
    assert parse_proc_stat_cpu_ticks(PROC_STAT) == 1234 + 56


def test_parse_proc_stat_ppid():
    assert parse_proc_stat_ppid(PROC_STAT) == 4241


@pytest.mark.parametrize(
    "text", ["", "4242 python S 1", "1 (x) S 1 2 3"], ids=["empty", "no-name", "short"]
)
def test_parse_proc_stat_rejects_other_text(text):
    with pytest.raises(ValueError, match="stat"):
        parse_proc_stat_cpu_ticks(text)


def test_parse_proc_status_reads_vmrss_in_kib():
    status = "Name:\tpython\nVmPeak:\t  900 kB\nVmRSS:\t   59212 kB\nThreads:\t5\n"
    assert parse_proc_status_rss_kib(status) == 59212


def test_parse_proc_status_of_a_zombie_has_no_rss():
    assert parse_proc_status_rss_kib("Name:\tpython\nState:\tZ (zombie)\n") == 0


def test_parse_proc_status_rejects_an_odd_vmrss_line():
    with pytest.raises(ValueError, match="VmRSS"):
        parse_proc_status_rss_kib("VmRSS:\t59212 MB\n")


# --- RSS trend -------------------------------------------------------------------------------

MIB = 1024 * 1024


def test_rss_trend_of_a_flat_run():
    samples = [(t * 0.5, 60 * MIB) for t in range(121)]
    trend = rss_trend(samples, window_s=10)
    assert trend.max_mb == 60
    assert trend.growth_mb == 0
    assert trend.growth_pct == 0


def test_rss_trend_compares_the_first_and_last_window_means():
    # 1 MiB per second for 60 s; first window 0..10 s, last 50..60 s.
    samples = [(float(t), (100 + t) * MIB) for t in range(61)]
    trend = rss_trend(list(reversed(samples)), window_s=10)
    assert trend.first_mb == pytest.approx(105)
    assert trend.last_mb == pytest.approx(155)
    assert trend.growth_mb == pytest.approx(50)
    assert trend.max_mb == 160
    assert trend.as_dict()["rss_growth_mb"] == 50


def test_rss_trend_needs_samples():
    with pytest.raises(ValueError, match="no RSS"):
        rss_trend([])


# --- profiles --------------------------------------------------------------------------------

MAIN = "thread (101): MainThread;run (uvicorn/main.py:1)"
ROUTE = "log_event (stats_service/api/routes/events.py:9)"
WORKER = "thread (102): AnyIO worker thread;run (anyio/_backends/_asyncio.py:2)"
FOLDED = "\n".join(
    [
        f"{MAIN};{ROUTE};parse_event (stats_service/events/model.py:300) 6",
        f"{MAIN};solve_dependencies (fastapi/dependencies/utils.py:7) 3",
        f"{WORKER};dependency (stats_service/api/dependencies.py:60) 1",
        "thread (103): Thread-3;_run (stats_service/storage/sqlite.py:339) 5",
        "thread (104): Thread-4;_run (stats_service/storage/sqlite.py:339) 5",
        "not a sample line",
    ]
)


def test_summarise_folded_stacks_ranks_threads_packages_and_functions():
    summary = summarise_folded_stacks(FOLDED, top=10)
    assert summary.total_samples == 20
    threads = {row.name: row.samples for row in summary.by_thread}
    assert threads == {"Thread": 10, "MainThread": 9, "AnyIO worker thread": 1}
    packages = {row.name: row.percent for row in summary.by_package}
    assert packages == {"stats_service": 85.0, "fastapi": 15.0}
    assert summary.by_self[0].name == "_run (stats_service/storage/sqlite.py)"
    assert summary.by_self[0].samples == 10


def test_summarise_folded_stacks_inclusive_covers_only_the_named_package():
    summary = summarise_folded_stacks(FOLDED)
    inclusive = {row.name: row.samples for row in summary.by_inclusive}
    assert inclusive["log_event (stats_service/api/routes/events.py)"] == 6
    assert not any("uvicorn" in name for name in inclusive)
    assert "inclusive time of stats_service" in summary.render()


def test_summarise_folded_stacks_keeps_top_n():
    assert len(summarise_folded_stacks(FOLDED, top=2).by_self) == 2


def test_summarise_folded_stacks_needs_samples():
    with pytest.raises(ValueError, match="no samples"):
        summarise_folded_stacks("")


# --- the results document --------------------------------------------------------------------


def test_lookup_follows_dotted_keys():
    assert lookup(complete_doc(), "single_event.ratio") == 0.4
    with pytest.raises(KeyError):
        lookup(complete_doc(), "single_event.nope")
    with pytest.raises(KeyError):
        lookup(complete_doc(), "single_event.ratio.deeper")


def test_a_complete_document_validates():
    assert validate_results(complete_doc()) == []


@pytest.mark.parametrize("key", REQUIRED_KEYS, ids=REQUIRED_KEYS)
def test_every_required_key_is_checked(key):
    doc = complete_doc()
    section, name = key.split(".")
    del doc[section][name]
    assert validate_results(doc) == [f"{key} is missing"]


@pytest.mark.parametrize(
    "value",
    [None, "1000", True, math.nan, math.inf, -1.0, [1.0]],
    ids=["null", "string", "bool", "nan", "inf", "negative", "list"],
)
def test_a_required_key_must_hold_a_finite_non_negative_number(value):
    doc = complete_doc()
    doc["single_event"]["ratio"] = value
    problems = validate_results(doc)
    assert len(problems) == 1
    assert problems[0].startswith("single_event.ratio is not")


def test_a_skipped_section_is_reported_missing():
    doc = complete_doc()
    doc["batch_ingest"] = {"skipped": "module not there"}
    assert validate_results(doc) == [
        "batch_ingest.points_per_s is missing",
        "batch_ingest.baseline_points_per_s is missing",
        "batch_ingest.ratio is missing",
    ]


def test_environment_facts_and_schema_version_are_required():
    doc = complete_doc()
    del doc["environment"]["git_commit"]
    doc["schema_version"] = 0
    assert validate_results(doc) == [
        f"schema_version is not {SCHEMA_VERSION}",
        "environment.git_commit is missing",
    ]


def test_the_committed_latest_json_has_every_required_figure():
    path = RESULTS_DIR / "latest.json"
    if not path.exists():
        pytest.skip("no committed benchmarks/results/latest.json")
    assert validate_results(json.loads(path.read_text(encoding="utf-8"))) == []


# --- table and chart -------------------------------------------------------------------------


def test_render_table_shows_values_and_targets():
    table = render_table(complete_doc())
    lines = table.splitlines()
    assert lines[0] == lines[2]  # an reStructuredText simple table: rule, header, rule
    assert set(lines[0]) == {"=", " "}
    ratio_line = next(line for line in lines if line.startswith("single event: ratio"))
    assert "0.40" in ratio_line
    assert ">= 1.0 (not met)" in ratio_line
    p99_line = next(line for line in lines if line.startswith("client: log() p99"))
    assert "18.4" in p99_line
    assert "<= 50 (met)" in p99_line
    bound_line = next(line for line in lines if line.startswith("batch: ratio if CPU"))
    assert "0.81" in bound_line
    service_cpu = next(line for line in lines if line.startswith("batch: stats-service CPU"))
    assert "4.25" in service_cpu
    assert "2 CPUs, Python 3.11.7, commit abc123" in table


def test_render_table_marks_missing_values():
    doc = copy.deepcopy(complete_doc())
    doc["batch_ingest"] = {"skipped": "module not there"}
    line = next(line for line in render_table(doc).splitlines() if line.startswith("batch: ratio"))
    assert "n/a" in line
    assert "(met)" not in line
    assert "(not met)" not in line


def test_draw_chart_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "chart" / "latest.png"
    report.draw_chart(complete_doc(), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
