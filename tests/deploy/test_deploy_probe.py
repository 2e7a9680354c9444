"""deploy/ for stats-probe: its alert rules (promtool) and its dashboard name real probe metrics."""

from __future__ import annotations

import re
import subprocess

import yaml
from prometheus_client import CollectorRegistry

from stats_client.probe.metrics import ProbeMetrics

_RULES = "prometheus/rules/probe.rules.yml"
_TESTS = "prometheus/tests/probe.rules.test.yml"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def _probe_series() -> set[str]:
    registry = CollectorRegistry()
    ProbeMetrics(registry)
    names: set[str] = set()
    for family in registry.collect():
        names |= {sample.name for sample in family.samples}
    return names


def test_the_probe_rules_pass_promtool_and_their_unit_tests(deploy_dir, promtool) -> None:
    checked = _run(promtool, "check", "rules", str(deploy_dir / _RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _run(promtool, "test", "rules", str(deploy_dir / _TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_probe_alerts_are_tested_and_name_real_metrics(deploy_dir) -> None:
    rules = yaml.safe_load((deploy_dir / _RULES).read_text(encoding="utf-8"))
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {alert["alert"] for alert in alerts} == {"StatsProbeDown", "StatsProbeEventsMissing"}
    tests = (deploy_dir / _TESTS).read_text(encoding="utf-8")
    known = _probe_series()
    for alert in alerts:
        assert f"alertname: {alert['alert']}" in tests
        assert set(re.findall(r"\b(probe_[a-z_]+)\b", alert["expr"])) <= known
        assert alert["labels"]["severity"] in {"critical", "warning"}


def test_the_probe_dashboard_names_only_probe_metrics(dashboards, panel_targets) -> None:
    known = _probe_series()
    exprs = [target["expr"] for _, target in panel_targets(dashboards["probe"])]
    assert len(exprs) >= 10
    for expr in exprs:
        names = set(re.findall(r"\b(probe_[a-z_]+)\b", expr))
        assert names, expr
        assert names <= known, sorted(names - known)
