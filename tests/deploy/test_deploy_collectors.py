"""deploy/collectors: the worked examples are valid configs and the alert rules pass promtool."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from stats_client.collect import MemoryFetcher, load_config
from stats_client.collect.selfmetrics import SelfMetrics
from stats_client.collect.sources import build_sources

_ENV = {"TRACKER_URL": "http://tracker.test", "TRACKER_TOKEN": "t", "CI_URL": "http://ci.test"}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("name", "sources", "metrics"),
    [
        ("incidents.yaml", ["tracker"], 4),
        ("ci_server.yaml", ["ci"], 4),
    ],
)
def test_the_examples_are_valid_configs(deploy_dir, name, sources, metrics):
    config = load_config(deploy_dir / "collectors" / name, environ=_ENV)
    built = build_sources(config, fetcher=MemoryFetcher())
    assert [s.name for s in built] == sources
    assert sum(len(s.metrics()) for s in built) == metrics
    assert config.prometheus_host == "127.0.0.1"
    assert config.events_enabled is True
    assert config.state_file is not None


def test_the_rules_pass_promtool_and_their_unit_tests(deploy_dir, promtool):
    rules = deploy_dir / "collectors" / "collectors.rules.yml"
    checked = _run(promtool, "check", "rules", str(rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _run(promtool, "test", "rules", str(rules.with_name("collectors.rules.test.yml")))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_unit_test_and_names_only_real_metrics(deploy_dir):
    rules = yaml.safe_load((deploy_dir / "collectors" / "collectors.rules.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    tests = (deploy_dir / "collectors" / "collectors.rules.test.yml").read_text()
    from prometheus_client import CollectorRegistry  # noqa: PLC0415 - only this test needs it

    registry = CollectorRegistry()
    SelfMetrics(registry).start(["s"])
    exposed = {m.name for m in registry.collect()} | {
        f"{m.name}_total" for m in registry.collect() if m.type == "counter"
    }
    for alert in alerts:
        assert f"alertname: {alert['alert']}" in tests, alert["alert"]
        names = set(re.findall(r"\b(collector_[a-z_]+)\b", alert["expr"]))
        assert names
        assert names <= exposed, names - exposed
