"""``stats-collect`` ships events to a real stats-service; a restart neither spikes nor re-counts.

The collector runs as a real subprocess polling a scripted upstream every
second, with its state file in a temp dir; the events are read back from
the service's ``GET /log/events`` and ``GET /log/event/{id}``.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from collect_fake_api import FakeApi
from collect_process import CollectProcess, wait_for
from service_process import LiveService, free_port

from stats_client.collect import AnalyticsSink
from stats_client.collect.events import window_events
from stats_client.collect.model import MetricDef, Reading

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = """\
events:
  enabled: true
  url: {service}
  access_token: ${{COLLECT_TOKEN}}
state_file: state.json
sources:
  - name: {name}
    url: {url}/summary
    interval_seconds: 1
    jitter_ratio: 0.1
    metrics:
      - name: incidents
        type: counter
        path: $.teams
        labels: {{team: name}}
        value: total
        delta: true
      - name: open_now
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


def collector(tmp_path: Path, api: FakeApi, live: LiveService, name: str) -> CollectProcess:
    config = tmp_path / "collect.yaml"
    text = CONFIG.format(service=live.url, url=api.url(""), name=name)
    config.write_text(textwrap.dedent(text), encoding="utf-8")
    return CollectProcess(config, port=free_port(), env={"COLLECT_TOKEN": live.writer})


def stored(live: LiveService, event: str) -> list[dict[str, Any]]:
    with live.client(live.reader) as client:
        response = client.get("/log/events", params={"event": event, "limit": 1000})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["events"]
    return found


def deltas(live: LiveService, source: str) -> list[tuple[str, float]]:
    return [(e["team"], e["value"]) for e in stored(live, f"collect.{source}.incidents")]


def polls(process: CollectProcess) -> float:
    for line in process.metrics().splitlines():
        if line.startswith("collector_poll_duration_seconds_count"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def totals(tmp_path: Path, source: str) -> dict[str, float]:
    try:
        state = json.loads((tmp_path / "state.json").read_text())
    except (OSError, ValueError):
        return {}
    known = state.get("totals", {}).get(source, {}).get("incidents", {})
    return {json.loads(k)[0]: v for k, v in known.items()}


def test_delta_and_gauge_events_reach_the_service(live_service, api, tmp_path):
    api.json("/summary", teams(a=(100, 3)))
    process = collector(tmp_path, api, live_service, "svc-delivery")
    process.start()
    try:
        wait_for("the baseline saved", lambda: totals(tmp_path, "svc-delivery") == {"a": 100})
        api.json("/summary", teams(a=(130, 2)))
        wait_for(
            "the delta stored",
            lambda: deltas(live_service, "svc-delivery") == [("a", 30.0)],
            detail=lambda: f"{deltas(live_service, 'svc-delivery')}\n{process.log_tail()}",
        )
    finally:
        assert process.stop() == 0, process.log_tail()
    (event,) = stored(live_service, "collect.svc-delivery.incidents")
    assert event["total"] == 130.0
    with live_service.client(live_service.reader) as client:
        fetched = client.get(f"/log/event/{event['event_id']}").json()
    assert fetched["event"] == "collect.svc-delivery.incidents"
    assert fetched["team"] == "a"
    assert fetched["value"] == 30.0
    gauges = stored(live_service, "collect.svc-delivery.open_now")
    assert {g["value"] for g in gauges} >= {3.0, 2.0}
    assert all(g["team"] == "a" for g in gauges)


def test_a_killed_and_restarted_collector_neither_spikes_nor_double_counts(
    live_service, api, tmp_path
):
    source = "svc-restart"
    api.json("/summary", teams(a=(100, 0), b=(10, 0)))
    process = collector(tmp_path, api, live_service, source)
    process.start()
    wait_for("the baseline saved", lambda: totals(tmp_path, source) == {"a": 100, "b": 10})
    api.json("/summary", teams(a=(130, 0), b=(10, 0)))
    wait_for("the first delta stored", lambda: deltas(live_service, source) == [("a", 30.0)])
    wait_for("the state caught up", lambda: totals(tmp_path, source)["a"] == 130)
    process.kill()  # between polls: no shutdown code runs

    process.start()
    start = polls(process)
    wait_for("two polls after the restart", lambda: polls(process) >= start + 2)
    assert deltas(live_service, source) == [("a", 30.0)]  # no spike from the restart

    api.json("/summary", teams(a=(145, 0), b=(12, 0)))
    wait_for("the next deltas", lambda: len(deltas(live_service, source)) == 3)
    api.json("/summary", teams(a=(4, 0), b=(12, 0)))  # a's counter resets upstream
    wait_for("the reset delta", lambda: len(deltas(live_service, source)) == 4)
    assert process.stop() == 0, process.log_tail()

    shipped = deltas(live_service, source)
    assert sorted(shipped) == sorted([("a", 30.0), ("a", 15.0), ("b", 2.0), ("a", 4.0)])
    reset = [e for e in stored(live_service, f"collect.{source}.incidents") if e.get("reset")]
    assert [(e["team"], e["value"], e["total"]) for e in reset] == [("a", 4.0, 4.0)]


def test_a_window_shipped_twice_is_stored_once_by_the_service(live_service):
    sink = AnalyticsSink(url=live_service.url, access_token=live_service.writer)
    metric = MetricDef("jobs_finished", "gauge", "h", ("kind",))
    reading = Reading(metric, samples={("build",): 4.0, ("deploy",): 1.0})
    since = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    until = since + dt.timedelta(days=1)
    try:
        for _ in range(2):  # e.g. the first try's flush timed out, but it got through
            sink.send(window_events("svc-window", reading, since, until))
            assert sink.flush(10.0)
    finally:
        sink.close()
    found = stored(live_service, "collect.svc-window.jobs_finished")
    assert sorted((e["kind"], e["value"]) for e in found) == [("build", 4.0), ("deploy", 1.0)]
    assert {e["time"][:19] for e in found} == {"2026-02-01T00:00:00"}
    assert {e["window_until"] for e in found} == {"2026-02-02T00:00:00Z"}
