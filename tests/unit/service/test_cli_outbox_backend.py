"""``outbox status`` says which backend wrote the outbox, and a mismatch with the configuration."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from stats_service.backends import OUTBOX_FILE, build_queue
from stats_service.cli import main
from stats_service.delivery.outbox.schema import MIGRATIONS
from stats_service.settings import load_settings

STRONG = "s" * 48


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("STATS_CONFIG", "STATS_DEVELOPMENT_MODE", "STATS_STORAGE_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STATS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STATS_SECRET_KEYS", STRONG)
    return tmp_path


def _served_by(data_dir: Path, backend: str) -> None:
    """Open and close the outbox as the service on ``backend`` does."""
    settings = load_settings(
        None,
        {
            "STATS_DATA_DIR": str(data_dir),
            "STATS_SECRET_KEYS": STRONG,
            "STATS_STORAGE_BACKEND": backend,
        },
    )

    async def run() -> None:
        queue = build_queue(settings)
        await queue.start()
        await queue.stop()

    asyncio.run(run())


def _status(capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, object], str]:
    assert main(["outbox", "status", "--json"]) == 0
    out, err = capsys.readouterr()
    return json.loads(out), err


def test_the_backend_that_wrote_the_outbox_is_reported_over_the_configured_one(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _served_by(env, "influxdb")  # then the configuration says embedded (the default)
    status, err = _status(capsys)
    assert status["backend"] == "influxdb"
    assert status["configured_backend"] == "embedded"
    assert status["backend_matches_configuration"] is False
    assert "written by the influxdb backend" in err
    assert "embedded" in err
    assert main(["outbox", "status"]) == 0
    out = capsys.readouterr().out
    assert any(line.split() == ["backend", "influxdb"] for line in out.splitlines()), out
    assert any(line.split() == ["configured_backend", "embedded"] for line in out.splitlines())


def test_a_matching_configuration_gives_no_warning(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _served_by(env, "influxdb2")
    monkeypatch.setenv("STATS_STORAGE_BACKEND", "influxdb2")
    status, err = _status(capsys)
    assert status["backend"] == "influxdb2"
    assert status["configured_backend"] == "influxdb2"
    assert status["backend_matches_configuration"] is True
    assert err == ""


def test_an_outbox_from_before_the_record_is_migrated_and_says_so(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = sqlite3.connect(env / OUTBOX_FILE)
    conn.executescript(str(MIGRATIONS[0]))
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    status, err = _status(capsys)
    assert status["backend"] is None
    assert status["backend_matches_configuration"] is False
    assert "not recorded" in err
    # The next start of the service records its backend in the migrated file.
    _served_by(env, "influxdb")
    monkeypatch.setenv("STATS_STORAGE_BACKEND", "influxdb")
    status, err = _status(capsys)
    assert status["backend"] == "influxdb"
    assert err == ""
