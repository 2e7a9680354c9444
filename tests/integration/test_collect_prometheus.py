"""A real Prometheus scrapes a real ``stats-collect`` polling a scripted upstream.

PromQL through Prometheus's HTTP API must return the upstream's series with
their labels, the counter as the upstream total, the self-metrics, and must
stop returning a label set once the upstream dropped it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from collect_fake_api import FakeApi
from collect_process import CollectProcess, wait_for
from prometheus_server import running_prometheus
from service_process import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RULES = Path(__file__).resolve().parents[2] / "deploy" / "collectors" / "collectors.rules.yml"

CONFIG = """\
prometheus: {{host: 127.0.0.1}}
sources:
  - name: tracker
    url: {url}/summary
    interval_seconds: 1
    jitter_ratio: 0.1
    timeout_seconds: 2
    metrics:
      - name: tracker_incidents
        type: counter
        help: Incidents ever opened
        path: $.teams
        labels: {{team: name}}
        value: total
      - name: tracker_open
        type: gauge
        help: Open incidents
        path: $.teams
        labels: {{team: name}}
        value: open
"""


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with FakeApi() as server:
        yield server


def test_prometheus_scrapes_stats_collect(api, tmp_path):
    api.json(
        "/summary",
        {"teams": [{"name": "a", "total": 120, "open": 3}, {"name": "b", "total": 7, "open": 1}]},
    )
    config = tmp_path / "collect.yaml"
    config.write_text(textwrap.dedent(CONFIG.format(url=api.url(""))), encoding="utf-8")
    collector = CollectProcess(config, port=free_port())
    collector.start()
    try:
        target = f"127.0.0.1:{collector.port}"
        with running_prometheus(target, "collect", tmp_path, [RULES]) as prometheus:

            def series(expr: str) -> dict[str, float]:
                return {
                    r["metric"].get("team", r["metric"].get("source", "")): float(r["value"][1])
                    for r in prometheus.query(expr)
                }

            wait_for(
                "both teams in Prometheus",
                lambda: series('tracker_open{job="collect"}') == {"a": 3.0, "b": 1.0},
            )
            assert series('tracker_incidents_total{job="collect"}') == {"a": 120.0, "b": 7.0}
            assert series('collector_up{job="collect"}') == {"tracker": 1.0}
            assert series('collector_poll_duration_seconds_count{job="collect"}')["tracker"] >= 1
            assert series("time() - collector_last_success_timestamp_seconds")["tracker"] < 60

            api.json("/summary", {"teams": [{"name": "a", "total": 125, "open": 2}]})
            wait_for(
                "b gone and a updated",
                lambda: series('tracker_open{job="collect"}') == {"a": 2.0},
            )
            assert series('tracker_incidents_total{job="collect"}') == {"a": 125.0}

            api.status("/summary", 500)
            wait_for(
                "the source down",
                lambda: series('collector_up{job="collect"}') == {"tracker": 0.0},
            )
            errors = prometheus.query(
                'collector_errors_total{job="collect", source="tracker", reason="http_status"}'
            )
            assert errors
            assert float(errors[0]["value"][1]) >= 1
            assert series('tracker_open{job="collect"}') == {"a": 2.0}  # last snapshot kept

            def alert_state() -> set[tuple[str, str]]:
                return {
                    (a["labels"]["alertname"], a["state"])
                    for a in prometheus.api("alerts")["alerts"]
                }

            wait_for(
                "the failing-source alert pending",
                lambda: ("CollectorSourceFailing", "pending") in alert_state(),
            )
            rules = [r for g in prometheus.api("rules")["groups"] for r in g["rules"]]
            assert {r["name"] for r in rules} == {"CollectorSourceFailing", "CollectorSourceStale"}
            assert all(r["health"] == "ok" for r in rules), rules
    finally:
        code = collector.stop()
    assert code == 0, collector.log_tail()
