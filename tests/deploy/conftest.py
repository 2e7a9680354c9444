"""Fixtures for the checks of ``deploy/``: parsed files, and real tools when installed.

A missing tool (``promtool``) fails the test under CI (``CI=true``) and skips it
elsewhere, like the real-server fixtures of the integration tests.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _require(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed (Debian package {package}; run `make servers`)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI must run this check")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def deploy_dir() -> Path:
    """The repository's ``deploy/`` directory."""
    return DEPLOY


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (the Docker build context)."""
    return ROOT


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of ``promtool`` (Debian package prometheus)."""
    return _require("promtool", "prometheus")


@pytest.fixture(scope="session")
def load_yaml_documents() -> Callable[[Path], list[Any]]:
    """Every YAML document of a file (empty documents dropped)."""

    def load(path: Path) -> list[Any]:
        with path.open(encoding="utf-8") as fh:
            return [doc for doc in yaml.safe_load_all(fh) if doc is not None]

    return load


@pytest.fixture(scope="session")
def dashboards() -> dict[str, dict[str, Any]]:
    """Every Grafana dashboard of ``deploy/grafana/dashboards``, by file stem."""
    folder = DEPLOY / "grafana" / "dashboards"
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(folder.glob("*.json"))
    }


@pytest.fixture(scope="session")
def panel_targets() -> Callable[[dict[str, Any]], list[tuple[dict[str, Any], dict[str, Any]]]]:
    """``(panel, target)`` for every query of a dashboard, rows and nested panels included."""

    def walk(dashboard: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        found: list[tuple[dict[str, Any], dict[str, Any]]] = []
        stack = list(dashboard.get("panels", []))
        while stack:
            panel = stack.pop(0)
            stack.extend(panel.get("panels", []))
            found.extend((panel, target) for target in panel.get("targets", []))
        return found

    return walk
