"""``stats-service monitors import|export``: idempotent by name, validated before writing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from stats_service.cli import main


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("STATS_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STATS_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


DEFINITIONS = [
    {"name": "home", "url": "https://example.org/", "interval_seconds": 30, "tags": ["web"]},
    {"name": "api", "url": "http://127.0.0.1:9/health", "paused": True,
     "headers": {"Authorization": "Bearer x"}, "conditions": {"status_in": [200]}},
]  # fmt: skip


def test_import_twice_creates_once_then_changes_nothing(data_dir, capsys):
    source = write(data_dir / "monitors.json", DEFINITIONS)
    assert main(["monitors", "import", str(source)]) == 0
    assert "2 created, 0 updated, 0 unchanged" in capsys.readouterr().err
    assert main(["monitors", "import", str(source)]) == 0
    assert "0 created, 0 updated, 2 unchanged" in capsys.readouterr().err


def test_export_then_import_is_a_no_op_and_changes_update_by_name(data_dir, capsys):
    write(data_dir / "in.json", {"monitors": DEFINITIONS})
    assert main(["monitors", "import", str(data_dir / "in.json")]) == 0
    assert main(["monitors", "export", str(data_dir / "out.json")]) == 0
    exported = json.loads((data_dir / "out.json").read_text())
    assert [m["name"] for m in exported] == ["home", "api"]
    assert exported[1]["paused"] is True
    assert exported[1]["headers"] == {"Authorization": "Bearer x"}
    capsys.readouterr()
    assert main(["monitors", "import", str(data_dir / "out.json")]) == 0
    assert "0 created, 0 updated, 2 unchanged" in capsys.readouterr().err
    exported[0]["interval_seconds"] = 60
    write(data_dir / "changed.json", exported)
    assert main(["monitors", "import", str(data_dir / "changed.json")]) == 0
    assert "0 created, 1 updated, 1 unchanged" in capsys.readouterr().err
    assert main(["monitors", "export"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["interval_seconds"] == 60


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([{"name": "x", "url": "https://example.org/", "interval_seconds": 1}],
         "monitors[0].interval_seconds"),
        ([DEFINITIONS[0], {"name": "y", "url": "gopher://x"}], "monitors[1].url"),
        ([DEFINITIONS[0], DEFINITIONS[0]], "appears twice"),
        ({"jobs": []}, "JSON list of monitors"),
    ],
    ids=["interval", "url", "duplicate", "shape"],
)  # fmt: skip
def test_a_bad_file_names_the_problem_and_writes_nothing(data_dir, capsys, document, message):
    assert main(["monitors", "import", str(write(data_dir / "bad.json", document))]) == 1
    assert message in capsys.readouterr().err
    assert main(["monitors", "export"]) == 0
    assert json.loads(capsys.readouterr().out) == []
