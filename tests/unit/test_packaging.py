"""Both distributions declare their metadata the way current setuptools wants it.

A ``license = {text = ...}`` table makes setuptools print a deprecation warning
on every install; an SPDX expression needs setuptools 77 or later to build.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECTS = [ROOT / "service" / "pyproject.toml", ROOT / "client" / "pyproject.toml"]


@pytest.mark.parametrize("path", PROJECTS, ids=["service", "client"])
def test_license_is_an_spdx_expression_built_by_setuptools_77(path: Path) -> None:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data["project"]["license"] == "MIT"
    assert not any(c.startswith("License ::") for c in data["project"].get("classifiers", []))
    [setuptools] = [r for r in data["build-system"]["requires"] if r.startswith("setuptools")]
    match = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", setuptools)
    assert match is not None, setuptools
    assert int(match.group(1)) >= 77


@pytest.mark.parametrize("path", PROJECTS, ids=["service", "client"])
def test_editable_installs_are_a_plain_path_entry(path: Path) -> None:
    # With the package directory named, setuptools installs in editable mode
    # through a .pth line instead of an import hook it warns about.
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data["tool"]["setuptools"]["package-dir"] == {"": "."}
