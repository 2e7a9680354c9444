"""``make run`` serves on the port README says how to choose."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _planned(*args: str, env: dict[str, str] | None = None) -> str:
    """The commands ``make run`` would run (``make -n``), without running them."""
    make = shutil.which("make")
    if make is None:  # pragma: no cover - the Makefile is how the project is driven
        pytest.fail("make is not installed")
    result = subprocess.run(
        [make, "-n", "--no-print-directory", "run", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def _serve_line(plan: str) -> str:
    [line] = [line for line in plan.splitlines() if "stats-service" in line and " serve" in line]
    return line


def test_make_run_port_passes_the_port_to_serve() -> None:
    assert "serve --port 20123" in _serve_line(_planned("PORT=20123"))


def test_make_run_without_port_uses_the_configured_one() -> None:
    assert "--port" not in _serve_line(_planned(env={"PORT": ""}))


def test_readme_says_how_to_choose_the_port() -> None:
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    assert "make run PORT=" in text
    assert "STATS_PORT=" in text
