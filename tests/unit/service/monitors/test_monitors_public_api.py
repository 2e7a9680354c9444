"""The public surface of the monitors modules changes only on purpose."""

from __future__ import annotations

import importlib

import pytest

SURFACES = {
    "stats_service.monitors": ["MonitorsComponent"],
    "stats_service.monitors.aggregator": [
        "GRANULARITIES",
        "Granularity",
        "Rollup",
        "bucket_start",
        "rollups_of",
    ],
    "stats_service.monitors.checker": ["Checker", "classify"],
    "stats_service.monitors.cli": [
        "export_monitors",
        "import_monitors",
        "register_monitor_commands",
        "run_aggregator",
        "run_worker",
    ],
    "stats_service.monitors.codec": [
        "RESULT_COLUMNS",
        "ROLLUP_COLUMNS",
        "Row",
        "monitor_from_row",
        "monitor_row",
        "result_from_row",
        "result_row",
        "rollup_from_row",
        "rollup_row",
    ],
    "stats_service.monitors.component": ["IngestSink", "MonitorsComponent", "build_monitor_store"],
    "stats_service.monitors.conditions": ["Observed", "evaluate", "json_path_get"],
    "stats_service.monitors.histogram": [
        "GAMMA",
        "RELATIVE_ERROR",
        "LatencyHistogram",
        "bucket_of",
    ],
    "stats_service.monitors.metrics": ["MonitorMetrics"],
    "stats_service.monitors.postgres_store": ["PostgresMonitorStore"],
    "stats_service.monitors.routes": ["build_router"],
    "stats_service.monitors.scheduler": [
        "Clock",
        "ManualClock",
        "Scheduler",
        "SchedulerStats",
        "SystemClock",
    ],
    "stats_service.monitors.service": [
        "STATUS_WINDOWS",
        "MonitorService",
        "ResultSink",
        "Retention",
        "invalid_spec",
    ],
    "stats_service.monitors.results_topic": [
        "ResultAggregator",
        "ResultRecorder",
        "ResultsApplier",
        "TopicResultRecorder",
        "decode_result",
        "encode_result",
    ],
    "stats_service.monitors.sqlite_store": ["SQLiteMonitorStore"],
    "stats_service.monitors.store": [
        "Cutoffs",
        "MemoryMonitorStore",
        "MonitorState",
        "MonitorStore",
        "StoreSize",
        "next_state",
        "time_key",
    ],
}


@pytest.mark.parametrize(("module_name", "names"), SURFACES.items(), ids=list(SURFACES))
def test_each_module_exports_exactly_its_public_names(module_name, names):
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(names)


def test_the_stores_satisfy_the_store_protocol():
    from stats_service.monitors.postgres_store import PostgresMonitorStore  # noqa: PLC0415
    from stats_service.monitors.sqlite_store import SQLiteMonitorStore  # noqa: PLC0415
    from stats_service.monitors.store import MemoryMonitorStore, MonitorStore  # noqa: PLC0415

    wanted = {n for n in dir(MonitorStore) if not n.startswith("_")}
    for implementation in (MemoryMonitorStore, SQLiteMonitorStore, PostgresMonitorStore):
        assert wanted <= set(dir(implementation)), implementation.__name__
