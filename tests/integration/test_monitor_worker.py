"""``stats-service monitor-worker``: a real process checks imported monitors, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_website import FakeWebsite

pytestmark = pytest.mark.integration


def _cli(data_dir: Path) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATS_")}
    env.update(STATS_DATA_DIR=str(data_dir), STATS_LOG_LEVEL="warning")
    return [sys.executable, "-m", "stats_service.cli"], env


def _count(path: Path, sql: str) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        try:
            return int(conn.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def test_the_worker_checks_imported_monitors_and_ingests_their_results(
    tmp_path: Path, website: FakeWebsite
):
    data = tmp_path / "data"
    command, env = _cli(data)
    definitions = [
        {"name": f"w{i}", "url": website.url("/status/200"), "interval_seconds": 5}
        for i in range(3)
    ]
    (tmp_path / "monitors.json").write_text(json.dumps(definitions), encoding="utf-8")
    subprocess.run(
        [*command, "monitors", "import", str(tmp_path / "monitors.json")], env=env, check=True
    )
    worker = subprocess.Popen(
        [*command, "monitor-worker"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if (
                _count(data / "monitors.sqlite3", "SELECT count(DISTINCT monitor_id) FROM results")
                == 3
            ):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the worker did not check every monitor within 20 s")
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=20)
    assert worker.returncode == 0, stderr
    results = _count(data / "monitors.sqlite3", "SELECT count(*) FROM results")
    events = _count(
        data / "events.sqlite3", "SELECT count(*) FROM events WHERE measurement = 'monitor_checks'"
    )
    assert events == results >= 3
