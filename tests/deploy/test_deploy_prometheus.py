"""deploy/prometheus: the config, the alert rules and their unit tests, checked by promtool.

Every PromQL expression we ship, in the alert rules and in the Grafana
dashboards, goes through promtool; every metric they name must be one the
service exposes (the catalogue in ``stats_service.observability.catalogue``).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from stats_service.observability import CATALOGUE

_RULES = Path("prometheus/rules/stats-service.rules.yml")
_RULE_TESTS = Path("prometheus/tests/stats-service.rules.test.yml")
# Grafana's variables as promtool must see them: plausible values of the right kind.
_GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "30s",
    "$__range": "6h",
    "$job": "stats-service",
    "$instance": ".*",
}
_PROMQL_FUNCTIONS_AND_KEYWORDS = {
    "sum",
    "max",
    "min",
    "count",
    "rate",
    "increase",
    "deriv",
    "histogram_quantile",
    "by",
    "and",
    "or",
    "unless",
    "on",
    "le",
    "absent",
}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def _rules(deploy_dir: Path) -> list[dict]:
    data = yaml.safe_load((deploy_dir / _RULES).read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"]]


def _metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (identifiers before ``{``, ``[`` or ``)``)."""
    without_labels = re.sub(r"\{[^}]*\}", "{}", expr)
    without_strings = re.sub(r'"[^"]*"', '""', without_labels)
    without_grouping = re.sub(r"\b(by|on|without|ignoring)\s*\([^)]*\)", "", without_strings)
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{|\[|\))", without_grouping))
    return names - _PROMQL_FUNCTIONS_AND_KEYWORDS


def _known_series() -> set[str]:
    names = {"up"} | _probe_series()
    for spec in CATALOGUE:
        names.add(spec.name)
        if spec.kind == "histogram":
            names |= {spec.name + suffix for suffix in ("_bucket", "_sum", "_count")}
    return names


def _probe_series() -> set[str]:
    """What stats-probe exposes (its own dashboard is in the same folder)."""
    from prometheus_client import CollectorRegistry  # noqa: PLC0415 - only this helper needs it

    from stats_client.probe.metrics import ProbeMetrics  # noqa: PLC0415

    registry = CollectorRegistry()
    ProbeMetrics(registry)
    return {sample.name for family in registry.collect() for sample in family.samples}


def _dashboard_expressions(dashboards, panel_targets) -> list[tuple[str, str]]:
    found = []
    for name, dashboard in dashboards.items():
        for panel, target in panel_targets(dashboard):
            if "expr" in target:
                found.append((f"{name}: {panel['title']} ({target['refId']})", target["expr"]))
    return found


def _substitute(expr: str) -> str:
    for variable in sorted(_GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(variable, _GRAFANA_VARIABLES[variable])
    return expr


def test_promtool_accepts_the_alert_rules(deploy_dir, promtool):
    result = _run(promtool, "check", "rules", str(deploy_dir / _RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_of_the_alerts_pass(deploy_dir, promtool):
    result = _run(promtool, "test", "rules", str(deploy_dir / _RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_accepts_the_scrape_config(deploy_dir, promtool):
    result = _run(promtool, "check", "config", str(deploy_dir / "prometheus" / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 rule files found" in result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_unit_test(deploy_dir):
    tests = yaml.safe_load((deploy_dir / _RULE_TESTS).read_text(encoding="utf-8"))
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = {rule["alert"] for rule in _rules(deploy_dir) if "alert" in rule}
    assert alerts == {
        "StatsServiceDown",
        "StatsOutboxBacklogGrowing",
        "StatsOutboxOldestEventTooOld",
        "StatsOutboxNearlyFull",
        "StatsForwardFailing",
        "StatsDeadLettersAppearing",
        "StatsHigh5xxRate",
    }
    assert alerts <= firing, f"alerts never shown firing: {sorted(alerts - firing)}"
    assert alerts <= quiet, f"alerts never shown quiet: {sorted(alerts - quiet)}"


def test_every_alert_has_severity_summary_and_description(deploy_dir):
    for rule in _rules(deploy_dir):
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["description"], rule["alert"]


def test_the_scrape_job_is_the_job_the_rules_select(deploy_dir):
    config = yaml.safe_load((deploy_dir / "prometheus" / "prometheus.yml").read_text("utf-8"))
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    selected = {
        job for rule in _rules(deploy_dir) for job in re.findall(r'job="([^"]+)"', rule["expr"])
    }
    assert selected == {"stats-service"}
    assert selected <= jobs


def test_alert_rules_name_only_metrics_the_service_exposes(deploy_dir):
    known = _known_series()
    for rule in _rules(deploy_dir):
        names = _metric_names(rule["expr"])
        assert names, f"{rule['alert']}: no metric found in {rule['expr']!r}"
        assert names <= known, f"{rule['alert']}: unknown {sorted(names - known)}"


def test_the_kubernetes_prometheusrule_holds_the_same_rules(deploy_dir, load_yaml_documents):
    (rule_object,) = load_yaml_documents(deploy_dir / "k8s" / "prometheusrule.yaml")
    assert rule_object["kind"] == "PrometheusRule"
    plain = yaml.safe_load((deploy_dir / _RULES).read_text(encoding="utf-8"))
    assert rule_object["spec"] == plain


def test_dashboard_expressions_name_only_metrics_the_service_exposes(dashboards, panel_targets):
    expressions = _dashboard_expressions(dashboards, panel_targets)
    assert len(expressions) >= 15
    known = _known_series()
    for where, expr in expressions:
        names = _metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        assert names <= known, f"{where}: unknown metric(s) {sorted(names - known)}"


def test_dashboard_variables_are_all_substituted(dashboards, panel_targets):
    for where, expr in _dashboard_expressions(dashboards, panel_targets):
        assert "$" not in _substitute(expr), f"{where}: unknown Grafana variable in {expr!r}"


def test_promtool_accepts_every_dashboard_expression(dashboards, panel_targets, promtool, tmp_path):
    expressions = _dashboard_expressions(dashboards, panel_targets)
    rules = {
        "groups": [
            {
                "name": "dashboard-expressions",
                "rules": [
                    {"record": f"dashboard:expression_{index}:check", "expr": _substitute(expr)}
                    for index, (_, expr) in enumerate(expressions)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-expressions.rules.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    result = _run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(expressions)} rules found" in result.stdout


@pytest.mark.parametrize(
    "bad_expr",
    ["sum(rate(stats_events_accepted_total[1m]", "histogram_quantile(0.9, sum by (le) foo)"],
    ids=["unbalanced", "syntax"],
)
def test_promtool_check_really_rejects_broken_promql(promtool, tmp_path, bad_expr):
    """The check above can fail: a broken expression is refused."""
    path = tmp_path / "broken.rules.yml"
    rules = {"groups": [{"name": "g", "rules": [{"record": "x:y:z", "expr": bad_expr}]}]}
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    assert _run(promtool, "check", "rules", str(path)).returncode != 0
