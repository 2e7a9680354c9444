"""The import graph points one way: a lower layer never imports an upper one.

Every module of ``stats_service`` belongs to the layer of its longest listed
prefix. A module may import its own layer and those below it, nothing above
(imports under ``TYPE_CHECKING`` and inside functions count too). A new
package goes into :data:`LAYERS` where it belongs; a module in no layer fails.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "service" / "stats_service"
CLIENT = ROOT / "client" / "stats_client"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("stats_service", "stats_service.errors"),
    ("stats_service.events",),
    ("stats_service.sqlite",),
    ("stats_service.storage",),
    ("stats_service.delivery",),
    ("stats_service.ingest",),
    ("stats_service.auth",),
    ("stats_service.observability",),
    ("stats_service.settings",),
    ("stats_service.backends",),
    ("stats_service.api",),
    ("stats_service.components",),
    # the subsystems' own packages plug in here (export, monitors, a stream...)
    ("stats_service.export", "stats_service.monitors", "stats_service.stream"),
    ("stats_service.console",),  # the web console: it calls no other subsystem
    ("stats_service.subsystems",),
    ("stats_service.app",),
    ("stats_service.forwarding",),
    ("stats_service.cli", "stats_service.legacy_import"),
)
"""Lowest first: events ← sqlite ← storage ← delivery ← ingest ← … ← api ← app ← cli."""

FORBIDDEN: tuple[tuple[str, str], ...] = (("stats_service.observability", "stats_service.auth"),)
"""Pairs (importer, imported) kept apart even though the layers would allow them."""


def _module_name(path: Path, package_root: Path) -> str:
    parts = list(path.relative_to(package_root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(package_root: Path) -> list[tuple[str, Path]]:
    return sorted((_module_name(path, package_root), path) for path in package_root.rglob("*.py"))


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every module ``name`` imports (absolute; relative ones resolved)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield module
            # ``from stats_service import app`` imports the module stats_service.app
            yield from (f"{module}.{alias.name}" for alias in node.names)


def _layer(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > best[0]
            ):
                best = (len(prefix), index)
    return None if best is None else best[1]


SERVICE_MODULES = _modules(SERVICE)


def test_every_service_module_has_a_layer():
    assert [name for name, _ in SERVICE_MODULES if _layer(name) is None] == []


@pytest.mark.parametrize(
    ("name", "path"), SERVICE_MODULES, ids=[name for name, _ in SERVICE_MODULES]
)
def test_no_module_imports_a_layer_above_its_own(name, path):
    own = _layer(name)
    assert own is not None
    upward = sorted(
        {
            imported
            for imported in _imports(name, path)
            if imported.startswith("stats_service")
            and (layer := _layer(imported)) is not None
            and layer > own
        }
    )
    assert upward == [], f"{name} (layer {own}) imports upper layers: {upward}"


@pytest.mark.parametrize(("importer", "imported"), FORBIDDEN, ids=[a for a, _ in FORBIDDEN])
def test_forbidden_pairs_stay_apart(importer, imported):
    offenders = sorted(
        name
        for name, path in SERVICE_MODULES
        if (name == importer or name.startswith(importer + "."))
        and any(m == imported or m.startswith(imported + ".") for m in _imports(name, path))
    )
    assert offenders == []


def test_the_client_imports_nothing_of_the_service():
    offenders = sorted(
        name
        for name, path in _modules(CLIENT)
        if any(m.startswith("stats_service") for m in _imports(name, path))
    )
    assert offenders == []


def test_the_check_sees_an_upward_import(tmp_path):
    """The checker itself: a storage module importing delivery is caught."""
    module = tmp_path / "stats_service" / "storage" / "bad.py"
    module.parent.mkdir(parents=True)
    module.write_text("from stats_service.delivery.queue import DurableQueue\nfrom . import base\n")
    imported = set(_imports("stats_service.storage.bad", module))
    assert "stats_service.delivery.queue" in imported
    assert "stats_service.storage.base" in imported
    assert _layer("stats_service.delivery.queue") > _layer("stats_service.storage.bad")
