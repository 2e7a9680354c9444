"""Collectors against a scripted third-party API over real HTTP (httpx, loopback).

The fake API moves totals, resets a counter, drops a label set, answers
500, answers HTML and hangs past the timeout; the collector's snapshot,
events and self-metrics must follow each step. The two worked examples in
``deploy/collectors/`` run with ``--once --dry-run`` against it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from collect_fake_api import FakeApi

from stats_client.collect import CollectorApp, MemorySink, MemoryStateStore, Parts, parse_config

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "collectors"

CONFIG = """\
sources:
  - name: tracker
    url: {url}/summary
    headers: {{X-Api-Key: "${{TRACKER_KEY}}"}}
    timeout_seconds: 0.5
    metrics:
      - name: tracker_incidents
        type: counter
        path: $.teams
        labels: {{team: name}}
        value: total
        delta: true
      - name: tracker_open
        type: gauge
        path: $.teams
        labels: {{team: name}}
        value: open
"""


def teams(**values: tuple[int, int]) -> dict[str, object]:
    return {"teams": [{"name": k, "total": t, "open": o} for k, (t, o) in values.items()]}


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with FakeApi() as server:
        yield server


@pytest.fixture
def app(api: FakeApi) -> Iterator[tuple[CollectorApp, MemorySink]]:
    config = parse_config(CONFIG.format(url=api.url("")), environ={"TRACKER_KEY": "k-123"})
    sink = MemorySink()
    collector = CollectorApp(config, Parts(sink=sink, state=MemoryStateStore()))
    yield collector, sink
    collector.stop()


def sample(app: CollectorApp, name: str, **labels: str) -> float | None:
    return app.registry.get_sample_value(name, labels)


def test_a_scripted_upstream_through_every_state(api, app):
    collector, sink = app
    api.json("/summary", teams(a=(100, 3), b=(40, 1)))
    collector.run_once()
    assert api.headers[-1]["X-Api-Key"] == "k-123"
    assert sample(collector, "tracker_incidents_total", team="a") == 100
    assert sink.events[-1]["event"] == "collect.tracker.tracker_open"
    assert not [e for e in sink.events if e["event"].endswith("tracker_incidents")]  # no spike

    api.json("/summary", teams(a=(130, 2), b=(45, 1)))  # totals move
    collector.run_once()
    api.json("/summary", teams(a=(7, 2)))  # a's counter resets; b vanishes
    collector.run_once()
    deltas = [
        (e["tags"]["team"], e["value"], e.get("reset", False))
        for e in sink.events
        if e["event"] == "collect.tracker.tracker_incidents"
    ]
    assert deltas == [("a", 30.0, False), ("b", 5.0, False), ("a", 7.0, True)]
    assert sample(collector, "tracker_open", team="b") is None
    assert sample(collector, "tracker_incidents_total", team="b") is None
    assert sample(collector, "tracker_incidents_total", team="a") == 7

    hits = api.hits["/summary"]
    for _ in range(3):
        collector.exposition()
    assert api.hits["/summary"] == hits  # scrapes never reach the upstream

    for script, reason in (
        (lambda: api.status("/summary", 500), "http_status"),
        (lambda: api.raw("/summary", b"<html>down for maintenance</html>"), "not_json"),
        (lambda: api.hang("/summary", 2.0), "timeout"),
    ):
        script()
        (outcome,) = collector.run_once()
        assert outcome.failed
        assert [e.reason.value for e in outcome.errors] == [reason]
        assert sample(collector, "collector_up", source="tracker") == 0
        assert sample(collector, "collector_errors_total", source="tracker", reason=reason) == 1
        assert sample(collector, "tracker_open", team="a") == 2  # the last snapshot stays

    api.json("/summary", teams(a=(9, 0)))
    (outcome,) = collector.run_once()
    assert outcome.ok
    assert sample(collector, "collector_up", source="tracker") == 1
    assert sample(collector, "tracker_open", team="a") == 0


def test_an_unreachable_upstream_is_counted(api):
    config = parse_config(
        CONFIG.format(url="http://127.0.0.1:9").replace("${TRACKER_KEY}", "x"), environ={}
    )
    collector = CollectorApp(config, Parts(sink=MemorySink()))
    try:
        (outcome,) = collector.run_once()
    finally:
        collector.stop()
    assert [e.reason.value for e in outcome.errors] == ["unreachable"]
    assert sample(collector, "collector_errors_total", source="tracker", reason="unreachable") == 1


_COMMAND = (sys.executable, "-m", "stats_client.collect.cli")


def dry_run(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_COMMAND, "--config", str(config), "--once", "--dry-run"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def split_output(stdout: str) -> tuple[str, list[dict[str, object]]]:
    text, _, events = stdout.partition("# events\n")
    return text, [json.loads(line) for line in events.splitlines()]


def test_the_yaml_example_dry_runs_against_the_fake_api(api):
    api.json(
        "/api/summary",
        {
            "total_opened": 1234,
            "teams": [
                {
                    "name": "payments",
                    "stacks": [
                        {"env": "prd", "open": 3, "opened_total": 120},
                        {"env": "sbx", "open": 1, "opened_total": 40},
                    ],
                }
            ],
            "resolve_minutes": [{"team": "payments", "minutes": 12.5}],
        },
    )
    state_file = DEPLOY / "var" / "collect-state.json"
    state_before = state_file.read_bytes() if state_file.exists() else None
    done = dry_run(DEPLOY / "incidents.yaml", {"TRACKER_URL": api.url(""), "TRACKER_TOKEN": "t0k"})
    assert done.returncode == 0, done.stderr
    text, events = split_output(done.stdout)
    assert 'tracker_open_incidents{env="prd",team="payments"} 3.0' in text
    assert "tracker_incidents_opened_total 1234.0" in text
    assert 'tracker_resolve_minutes_bucket{le="15.0",team="payments"} 1.0' in text
    assert 'collector_up{source="tracker"} 1.0' in text
    assert {e["event"] for e in events} == {
        "collect.tracker.tracker_open_incidents",
        "collect.tracker.tracker_resolve_minutes",
    }
    assert api.headers[-1]["Authorization"] == "Bearer t0k"
    assert "t0k" not in done.stdout + done.stderr
    after = state_file.read_bytes() if state_file.exists() else None
    assert after == state_before  # a dry run saves no state


def test_the_python_example_dry_runs_against_the_fake_api(api):
    api.json(
        "/api/summary",
        {
            "queued": 4,
            "pipelines": [
                {"name": "web", "totals": {"passed": 310, "failed": 12}, "recent_minutes": [4.5]}
            ],
        },
    )
    api.json("/api/builds", {"builds": [{"pipeline": "web", "result": "passed"}] * 2})
    done = dry_run(DEPLOY / "ci_server.yaml", {"CI_URL": api.url("")})
    assert done.returncode == 0, done.stderr
    text, events = split_output(done.stdout)
    assert 'ci_builds_total{pipeline="web",result="failed"} 12.0' in text
    assert "ci_queue_length 4.0" in text
    assert 'ci_builds_finished{pipeline="web"} 2.0' in text
    window = next(e for e in events if e["event"] == "collect.ci.ci_builds_finished")
    assert window["value"] == 2.0
    assert window["window_since"] < window["window_until"]
    assert api.hits["/api/builds"] == 1


def test_a_dry_run_exits_non_zero_when_a_source_failed(api):
    api.status("/api/summary", 500)
    done = dry_run(DEPLOY / "ci_server.yaml", {"CI_URL": api.url("")})
    assert done.returncode == 1
    assert "ci: http_status" in done.stderr
    assert 'collector_up{source="ci"} 0.0' in done.stdout
