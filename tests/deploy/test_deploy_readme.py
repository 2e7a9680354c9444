"""README.rst's Operations section stays true to the code and the deploy files."""

from __future__ import annotations

import re

import pytest
import yaml
from docutils.core import publish_doctree
from docutils.utils import Reporter

from stats_service.observability import CATALOGUE


@pytest.fixture(scope="module")
def readme(deploy_dir) -> str:
    text = (deploy_dir.parent / "README.rst").read_text(encoding="utf-8")
    start = text.index("Operations\n----------\n")
    return text[start : text.index("Architecture\n------------\n", start)]


def _between(text: str, name: str) -> str:
    return text[text.index(f".. {name}-start") : text.index(f".. {name}-end")]


class _Collect:
    """A docutils warning stream that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def write(self, text: str) -> None:
        if text.strip():
            self.messages.append(text)


def test_is_valid_restructuredtext(readme):
    stream = _Collect()
    publish_doctree(
        readme,
        settings_overrides={
            "report_level": Reporter.WARNING_LEVEL,
            "halt_level": Reporter.SEVERE_LEVEL + 1,
            "warning_stream": stream,
        },
    )
    assert stream.messages == []


def test_the_validity_check_can_fail():
    stream = _Collect()
    publish_doctree(
        "Title\n===\n\n.. list-table::\n\n   * - a\n   * - b\n     - c\n",
        settings_overrides={"report_level": Reporter.WARNING_LEVEL, "warning_stream": stream},
    )
    assert stream.messages


def test_metrics_table_lists_the_catalogue_in_order(readme):
    table = _between(readme, "metrics-table")
    documented = re.findall(r"^   \* - ``([a-z_]+)``", table, re.MULTILINE)
    assert documented == [spec.name for spec in CATALOGUE]
    for spec in CATALOGUE:
        row = table[table.index(f"``{spec.name}``") :].split("   * - ", 1)[0]
        assert f"     - {spec.kind}" in row, spec.name
        for label in spec.labels:
            assert f"``{label}``" in row, (spec.name, label)


def test_alerts_table_lists_every_alert_with_its_severity(readme, deploy_dir):
    path = deploy_dir / "prometheus" / "rules" / "stats-service.rules.yml"
    rules = [
        rule
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
    ]
    table = _between(readme, "alerts-table")
    documented = re.findall(r"^   \* - ``(\w+)``\n     - (\w+)", table, re.MULTILINE)
    assert documented == [(rule["alert"], rule["labels"]["severity"]) for rule in rules]


def test_paths_it_names_exist(readme, repo_root):
    for path in set(re.findall(r"``(deploy/[\w./-]+)``", readme)):
        assert (repo_root / path).exists(), path
