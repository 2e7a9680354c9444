"""Export over the InfluxDB backend: the same packages from a real influxd."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from export_data import NOV_1, generate_events

from stats_service.export.extract import extract
from stats_service.export.package import PackageLimits
from stats_service.export.run import run_export
from stats_service.export.storage import DirectoryStorage
from stats_service.export.window import Window
from stats_service.settings import load_settings
from stats_service.storage.base import EventQuery
from stats_service.storage.influx.config import InfluxDBConfig
from stats_service.storage.influx.v1 import InfluxDBStore

pytestmark = [pytest.mark.integration, pytest.mark.influxdb]

NOV_4 = NOV_1 + dt.timedelta(days=3)


def test_export_reads_influxdb_through_the_store_interface(influxd, influx_database, tmp_path):
    events = generate_events(6000, seed=21)
    store = InfluxDBStore(InfluxDBConfig(url=influxd.url, database=influx_database))
    target = DirectoryStorage(tmp_path / "target")
    settings = load_settings(environ={}, data_dir=tmp_path / "data")
    window = Window(NOV_1, NOV_4)

    async def scenario():
        await store.open()
        try:
            for start in range(0, len(events), 5000):
                await store.write(events[start : start + 5000])
            result = await run_export(
                store=store,
                storage=target,
                settings=settings,
                window=window,
                job="influx",
                limits=PackageLimits(max_package_bytes=300_000, max_file_bytes=100_000),
            )
            first = await store.query(
                EventQuery(since_ns=window.since_ns, until_ns=window.until_ns, limit=1)
            )
            return result, first.events[0]
        finally:
            await store.close()

    result, first = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert result.events == 6000
    assert len(result.packages) > 1
    extracted = extract(tmp_path / "target" / p.name for p in result.packages)
    frame = extracted.frames["events"]
    assert sorted(frame["event_id"]) == sorted(e.event_id for e in events)
    assert Counter(frame["event"]) == Counter(e.tags["event"] for e in events)
    row = frame[frame["event_id"] == first.event_id].iloc[0]
    assert row["identity"] == first.tags["identity"]
    assert row["uid"] == first.fields["uid"]
    assert json.loads(row["fields"]) == {"duration_ms": first.fields["duration_ms"]}
    counts = extracted.documents["event_counts"][0]
    assert counts["total"] == 6000


def test_the_command_exports_from_the_influxdb_backend(influxd, influx_database, tmp_path):
    events = generate_events(3000, seed=22)
    store = InfluxDBStore(InfluxDBConfig(url=influxd.url, database=influx_database))

    async def fill():
        await store.open()
        try:
            await store.write(events)
        finally:
            await store.close()

    asyncio.run(fill())
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STATS_")}
    environ.update(
        STATS_DATA_DIR=str(tmp_path / "data"),
        STATS_STORAGE_BACKEND="influxdb",
        STATS_INFLUXDB_URL=influxd.url,
        STATS_INFLUXDB_DATABASE=influx_database,
    )
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "stats-service"),
            "export",
            "run",
            "--since",
            "2026-11-01",
            "--until",
            "2026-11-04",
            "--to",
            f"dir:{tmp_path / 'target'}",
            "--json",
        ],
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["events"] == 3000
    extracted = extract(tmp_path / "target" / p["name"] for p in summary["packages"])
    assert sorted(extracted.frames["events"]["event_id"]) == sorted(e.event_id for e in events)
