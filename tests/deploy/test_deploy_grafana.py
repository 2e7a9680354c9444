"""deploy/grafana: provisioning files and dashboards a stock Grafana can load.

Grafana itself is not installed here, so this checks the structure Grafana
relies on: data source uids that panels refer to, unique ids, grid positions,
variables that exist, and that every InfluxQL panel is bounded by the time
picker. The queries themselves run for real in test_deploy_grafana_influxql.py
(InfluxQL) and test_deploy_prometheus.py / the Prometheus scrape test (PromQL).
"""

from __future__ import annotations

import re

import pytest
import yaml

from stats_service.settings import Settings

_BUILTIN_VARIABLES = {
    "timeFilter",
    "__interval",
    "__interval_ms",
    "__rate_interval",
    "__range",
    "tag_event",
    "__all",
}


@pytest.fixture(scope="module")
def datasources(deploy_dir) -> dict[str, dict]:
    path = deploy_dir / "grafana" / "provisioning" / "datasources" / "stats-service.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["apiVersion"] == 1
    return {source["uid"]: source for source in data["datasources"]}


def test_datasources_are_provisioned_with_fixed_uids(datasources):
    assert set(datasources) == {"stats-influxdb", "stats-prometheus"}
    influx = datasources["stats-influxdb"]
    assert influx["type"] == "influxdb"
    assert influx["access"] == "proxy"
    assert influx["database"] == influx["jsonData"]["dbName"]
    assert datasources["stats-prometheus"]["type"] == "prometheus"
    assert sum(1 for source in datasources.values() if source.get("isDefault")) == 1


def test_influx_datasource_reads_the_database_the_service_writes(datasources):
    assert datasources["stats-influxdb"]["database"] == Settings().influxdb_database


def test_dashboard_provider_points_at_a_directory(deploy_dir):
    path = deploy_dir / "grafana" / "provisioning" / "dashboards" / "stats-service.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["apiVersion"] == 1
    (provider,) = data["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].startswith("/")


def test_the_two_dashboards_exist_with_unique_uids(dashboards):
    assert set(dashboards) == {"analytics", "ingestion-health", "monitors", "probe"}
    uids = [dashboard["uid"] for dashboard in dashboards.values()]
    assert len(set(uids)) == len(uids)
    for dashboard in dashboards.values():
        assert len(dashboard["uid"]) <= 40
        assert dashboard["title"]
        assert isinstance(dashboard["schemaVersion"], int)


@pytest.mark.parametrize("name", ["analytics", "ingestion-health", "probe"])
def test_panels_are_well_formed(dashboards, panel_targets, datasources, name):
    dashboard = dashboards[name]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(set(ids)) == len(ids)
    for panel in dashboard["panels"]:
        assert panel["title"], panel["id"]
        assert panel["description"], panel["title"]
        grid = panel["gridPos"]
        assert set(grid) == {"h", "w", "x", "y"}
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        source = datasources[panel["datasource"]["uid"]]
        assert source["type"] == panel["datasource"]["type"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert ref_ids, panel["title"]
        assert len(set(ref_ids)) == len(ref_ids), panel["title"]
    for panel, target in panel_targets(dashboard):
        assert target["datasource"] == panel["datasource"], panel["title"]


def _used_variables(text: str) -> set[str]:
    return set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", text))


@pytest.mark.parametrize("name", ["analytics", "ingestion-health", "probe"])
def test_every_variable_used_is_defined(dashboards, panel_targets, name):
    dashboard = dashboards[name]
    defined = {variable["name"] for variable in dashboard["templating"]["list"]}
    used: set[str] = set()
    for _, target in panel_targets(dashboard):
        used |= _used_variables(target.get("query") or target.get("expr") or "")
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else query or ""
        used |= _used_variables(text)
    assert used - _BUILTIN_VARIABLES <= defined


def test_analytics_panels_are_raw_influxql_bounded_by_the_time_picker(dashboards, panel_targets):
    targets = panel_targets(dashboards["analytics"])
    assert len(targets) >= 6
    for panel, target in targets:
        assert panel["datasource"]["uid"] == "stats-influxdb"
        assert target["rawQuery"] is True
        query = target["query"]
        assert query.startswith("SELECT "), panel["title"]
        assert "$timeFilter" in query, f"{panel['title']} is not limited to the time range"
        assert 'FROM "$measurement"' in query, panel["title"]


def test_analytics_has_an_event_type_variable(dashboards):
    variables = {v["name"]: v for v in dashboards["analytics"]["templating"]["list"]}
    event = variables["event"]
    assert event["datasource"]["uid"] == "stats-influxdb"
    assert event["query"].startswith("SHOW TAG VALUES")
    assert event["multi"]
    assert event["includeAll"]


def test_ingestion_health_covers_what_operators_need(dashboards, panel_targets):
    expressions = " ".join(t["expr"] for _, t in panel_targets(dashboards["ingestion-health"]))
    for metric in (
        "stats_events_accepted_total",
        "stats_events_rejected_total",
        "stats_forward_batch_duration_seconds_bucket",
        "stats_outbox_depth_events",
        "stats_outbox_oldest_age_seconds",
        "stats_outbox_capacity_events",
        "stats_deadletters_total",
        "stats_deadletters_pending",
        "stats_forward_errors_total",
        'status=~"5.."',
    ):
        assert metric in expressions, metric
