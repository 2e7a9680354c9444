"""The library example of README.rst's Export section runs as written (paths aside)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from export_data import generate_events
from openpyxl import load_workbook

from stats_service.storage.embedded import EmbeddedStore

pytestmark = [pytest.mark.integration]

README = Path(__file__).resolve().parents[3] / "README.rst"


def _example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("Export\n------\n") :]
    block = section[section.index("As a library::\n\n") + len("As a library::\n\n") :]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line[4:])
    return "\n".join(lines)


def test_the_library_example_exports_and_writes_the_workbook(tmp_path):
    data = tmp_path / "data"
    data.mkdir()

    async def fill() -> None:
        store = EmbeddedStore(data / "events.sqlite3")
        await store.open()
        await store.write(generate_events(3000, days=30, seed=9))
        await store.close()

    asyncio.run(fill())
    code = _example()
    assert '"/srv/exports"' in code
    assert 'Path("november.xlsx")' in code
    code = code.replace('"/srv/exports"', repr(str(tmp_path / "exports")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATS_")}
    env.update(STATS_DATA_DIR=str(data), STATS_STORAGE_BACKEND="embedded")
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "exports").glob("*.tar.gz"))) == 1
    summary = load_workbook(tmp_path / "november.xlsx")["Summary"]
    assert [c.value for c in summary[6]][2] == 3000
