"""Building sources: both kinds in one process, ``-s`` selection, one owner per metric name."""

from __future__ import annotations

import threading
import time

import pytest

from stats_client.collect import (
    ConfigError,
    MemoryFetcher,
    PythonSource,
    SourceRegistry,
    parse_config,
    register_metric,
)
from stats_client.collect.sources import HttpSource, PythonSourceRunner, build_sources
from tests.unit.client.collect.harness import make_harness


class Billing(PythonSource):
    interval_seconds = 300.0

    @register_metric("invoices_open")
    def invoices(self):
        return self.options.get("open", 2)


class Audit(PythonSource):
    @register_metric("audit_entries")
    def entries(self):
        return 1


YAML = """\
sources:
  - name: tracker
    url: http://tracker.test/summary
    metrics: [{name: open_incidents, type: gauge, path: $.open}]
  - name: billing
    collector: billing-test
    interval_seconds: 30
    options: {open: 5}
"""


@pytest.fixture
def registry():
    registry = SourceRegistry(entry_point_group=None)
    registry.add("billing-test", Billing)
    registry.add("audit-test", Audit)
    return registry


def test_both_kinds_run_in_one_process(registry):
    config = parse_config(YAML, environ={})
    tracker, billing = build_sources(config, fetcher=MemoryFetcher(), registry=registry)
    assert isinstance(tracker, HttpSource)
    assert isinstance(billing, PythonSourceRunner)
    assert billing.interval_seconds == 30.0
    assert billing.poll().readings[0].samples == {(): 5.0}


def test_selection_picks_configured_sources_and_registered_ones(registry):
    config = parse_config(YAML, environ={})
    chosen = build_sources(
        config, fetcher=MemoryFetcher(), selected=["billing", "audit-test"], registry=registry
    )
    assert [s.name for s in chosen] == ["billing", "audit-test"]
    assert chosen[1].interval_seconds == 60.0  # the class default, no config entry
    text = YAML.replace("    interval_seconds: 30\n", "")
    (billing,) = build_sources(
        parse_config(text, environ={}),
        fetcher=MemoryFetcher(),
        selected=["billing"],
        registry=registry,
    )
    assert billing.interval_seconds == 300.0  # the file says nothing: the class decides
    with pytest.raises(ConfigError, match="no Python source named 'splunk'"):
        build_sources(config, fetcher=MemoryFetcher(), selected=["splunk"], registry=registry)


def test_a_metric_name_has_one_owner_per_process(registry):
    text = YAML.replace("name: open_incidents", "name: invoices_open")
    config = parse_config(text, environ={})
    with pytest.raises(ConfigError, match="'invoices_open' is published by both"):
        build_sources(config, fetcher=MemoryFetcher(), registry=registry)


def test_run_polls_in_threads_until_stopped():
    harness = make_harness(
        "sources:\n- {name: t, url: 'http://t.test/', interval_seconds: 0.05, jitter_ratio: 0,"
        " metrics: [{name: g, type: gauge, path: $.x}]}\n"
    )
    harness.fetcher.answers["http://t.test/"] = {"x": 1}
    harness.clock.advance(1)
    stop = threading.Event()
    thread = threading.Thread(
        target=harness.runner.run, args=(stop,), kwargs={"max_wait_seconds": 0.01}
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not harness.fetcher.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert harness.value("g") == 1.0
