"""A real Prometheus (Debian package ``prometheus``) scrapes a real stats-service.

Prometheus runs on loopback with a temporary config and storage directory,
scrapes the service every second and loads our alert rules. The test reads
our metrics back through Prometheus's HTTP API, checks the rules loaded, and
evaluates every PromQL expression of the Grafana dashboards against the
scraped data. Every wait is bounded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_server import Prometheus, running_prometheus
from service_process import LiveService

from stats_service import __version__

pytestmark = pytest.mark.integration

_DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
_GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "$job": "stats-service",
    "$instance": ".*",
}


@pytest.fixture(scope="module")
def prometheus(
    live_service: LiveService, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    with running_prometheus(
        live_service.url.removeprefix("http://"),
        "stats-service",
        tmp_path_factory.mktemp("prometheus"),
        [_DEPLOY / "prometheus" / "rules" / "stats-service.rules.yml"],
    ) as server:
        yield server


def _dashboard_expressions() -> list[tuple[str, str]]:
    found = []
    for path in sorted((_DEPLOY / "grafana" / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                if "expr" in target:
                    expr = target["expr"]
                    for name in sorted(_GRAFANA_VARIABLES, key=len, reverse=True):
                        expr = expr.replace(name, _GRAFANA_VARIABLES[name])
                    found.append((f"{path.stem}: {panel['title']}", expr))
    return found


def _value(result: list[dict[str, Any]]) -> float:
    (sample,) = result
    return float(sample["value"][1])


def test_prometheus_scrapes_our_metrics(live_service: LiveService, prometheus: Prometheus):
    prometheus.wait_for(
        "the service up",
        lambda: [r["value"][1] for r in prometheus.query('up{job="stats-service"}')] == ["1"],
    )
    accepted = 'sum(stats_events_accepted_total{job="stats-service", path="/log/event"})'
    prometheus.wait_for("the accepted counter", lambda: bool(prometheus.query(accepted)))
    start = _value(prometheus.query(accepted))
    with live_service.client(live_service.writer) as client:
        for index in range(5):
            response = client.post("/log/event", json={"event": "prom.e", "uid": f"u{index}"})
            assert response.status_code == 200
        assert client.post("/log/event", json={"event": "prom.e"}).status_code == 422
    prometheus.wait_for(
        "five more accepted events", lambda: _value(prometheus.query(accepted)) == start + 5
    )
    rejected = prometheus.query(
        'stats_events_rejected_total{job="stats-service", reason="invalid_event"}'
    )
    assert _value(rejected) >= 1
    (info,) = prometheus.query('stats_build_info{job="stats-service"}')
    assert info["metric"]["version"] == __version__
    handlers = {
        r["metric"]["handler"] for r in prometheus.query('http_requests_total{job="stats-service"}')
    }
    assert "/log/event" in handlers
    assert "/metrics" not in handlers


def test_alert_rules_load_and_evaluate(prometheus: Prometheus):
    def loaded() -> bool:
        groups = prometheus.api("rules")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return bool(rules) and all(rule.get("lastEvaluation", "").startswith("2") for rule in rules)

    prometheus.wait_for("evaluated rules", loaded)
    rules = [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]
    assert {rule["name"] for rule in rules} == {
        "StatsServiceDown",
        "StatsOutboxBacklogGrowing",
        "StatsOutboxOldestEventTooOld",
        "StatsOutboxNearlyFull",
        "StatsForwardFailing",
        "StatsDeadLettersAppearing",
        "StatsHigh5xxRate",
    }
    for rule in rules:
        assert rule["health"] == "ok", rule
    firing = [a for a in prometheus.api("alerts")["alerts"] if a["state"] == "firing"]
    assert firing == [], "a healthy service must not fire alerts"


def test_every_dashboard_expression_evaluates(live_service: LiveService, prometheus: Prometheus):
    def scraped_thrice() -> bool:
        result = prometheus.query('count_over_time(up{job="stats-service"}[1m])')
        return bool(result) and _value(result) >= 3

    prometheus.wait_for("three scrapes", scraped_thrice)
    expressions = _dashboard_expressions()
    assert len(expressions) >= 15
    for where, expr in expressions:
        response = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=10)
        assert response.json()["status"] == "success", f"{where}: {response.text}"
    for expr in (
        'sum(up{job="stats-service", instance=~".*"})',
        'sum(rate(stats_events_accepted_total{job="stats-service", instance=~".*"}[1m]))',
        'count by (version) (stats_build_info{job="stats-service", instance=~".*"})',
    ):
        assert prometheus.query(expr), f"{expr} shows nothing for a live service"
