"""The collectors' public surface is curated, and the base SDK never imports their dependencies."""

from __future__ import annotations

import subprocess
import sys

import stats_client.collect
from stats_client.collect import instants

EXPECTED = {
    "REGISTRY",
    "AnalyticsSink",
    "CollectConfig",
    "CollectError",
    "CollectorApp",
    "ConfigError",
    "DuplicateLabelsError",
    "EventSink",
    "Fetcher",
    "FileStateStore",
    "HttpRequest",
    "HttpSourceConfig",
    "HttpxFetcher",
    "MemoryFetcher",
    "MemorySink",
    "MemoryStateStore",
    "MetricDef",
    "Parts",
    "PollError",
    "PrintSink",
    "PythonSource",
    "PythonSourceConfig",
    "Reading",
    "Reason",
    "RegistryError",
    "SourceRegistry",
    "StateStore",
    "enable_delta_metric",
    "instants",
    "load_config",
    "parse_config",
    "register_metric",
    "register_source",
}


def test_public_names_are_exactly_the_curated_set():
    assert set(stats_client.collect.__all__) == EXPECTED
    for name in EXPECTED:
        assert hasattr(stats_client.collect, name), name


def test_instants_exports_the_helpers():
    assert set(instants.__all__) == {
        "now",
        "this_minute",
        "this_hour",
        "this_day",
        "this_week",
        "this_month",
        "last_hour",
        "last_day",
        "last_week",
        "last_month",
        "minutes_ago",
        "hours_ago",
        "days_ago",
        "weeks_ago",
        "months_ago",
        "iso",
    }


def test_the_base_sdk_imports_none_of_the_collect_dependencies():
    code = (
        "import sys, stats_client, stats_client.client.analytics\n"
        "heavy = {'prometheus_client', 'jsonpath_ng', 'httpx', 'yaml', 'stats_client.collect'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_importing_collect_starts_nothing():
    code = "import threading, stats_client.collect\nprint(threading.active_count())\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "1"
