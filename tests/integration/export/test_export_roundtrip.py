"""The whole chain over real parts: 100,000 events through S3 and back into a spreadsheet.

Events go into the embedded store in big batches; a real stats-service serves
them; the real ``stats-service export run`` packages them into SeaweedFS with a
5 MB package limit; the packages are fetched, verified and extracted, rolled
up per day, regrouped and written to XLSX. The counts in the workbook must be
the counts the API answers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import Counter

import httpx
import pytest
from export_data import NOV_1, generate_events
from openpyxl import load_workbook

from stats_service.export.extract import extract_from_storage
from stats_service.export.report import write_xlsx
from stats_service.export.rollup import EventsDaily
from stats_service.export.run import package_names
from stats_service.export.storage.s3 import S3Config, S3Storage
from stats_service.export.window import Window
from stats_service.storage.embedded import EmbeddedStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EVENTS = 100_000
MB5 = 5 * 1024 * 1024
NOV_4 = NOV_1 + dt.timedelta(days=3)


def _ingest(path, events):
    async def write():
        store = EmbeddedStore(path)
        await store.open()
        try:
            for start in range(0, len(events), 20_000):
                await store.write(events[start : start + 20_000])
        finally:
            await store.close()

    asyncio.run(write())


def _api_counts(service, token):
    counts: Counter[tuple[str, str]] = Counter()
    cursor = None
    headers = {"Authorization": f"Token {token}"}
    with httpx.Client(base_url=service.url, headers=headers, timeout=60.0) as client:
        while True:
            params = {"since": "2026-11-01T00:00:00Z", "until": "2026-11-04T00:00:00Z"}
            params["limit"] = "10000"
            if cursor:
                params["cursor"] = cursor
            page = client.get("/log/events", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            for item in body["events"]:
                counts[(item["time"][:10], item["event"])] += 1
            cursor = body["next_cursor"]
            if cursor is None:
                return counts


def test_100k_events_round_trip_through_s3_into_a_workbook(
    service_factory, seaweedfs, s3_bucket, tmp_path
):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    _ingest(data_dir / "events.sqlite3", generate_events(EVENTS))
    s3_env = {
        "STATS_MAX_PAGE_SIZE": "10000",
        "STATS_EXPORT_S3_ENDPOINT": seaweedfs.endpoint,
        "STATS_EXPORT_S3_REGION": "us-east-1",
        "STATS_EXPORT_S3_ACCESS_KEY": seaweedfs.access_key,
        "STATS_EXPORT_S3_SECRET_KEY": seaweedfs.secret_key,
        "STATS_EXPORT_JOB": "monthly",
    }
    service = service_factory(data_dir=data_dir, extra_env=s3_env)
    reader = service.token("analyst", "read")
    service.start()

    done = service.cli(
        "export",
        "run",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-04",
        "--to",
        f"s3://{s3_bucket}/stats",
        "--max-package-bytes",
        str(MB5),
        "--max-file-bytes",
        str(MB5 // 4),
        "--json",
    )
    summary = json.loads(done.stdout)
    assert summary["events"] == EVENTS
    assert len(summary["packages"]) >= 3
    assert seaweedfs.secret_key not in done.stdout + done.stderr

    storage = S3Storage(
        S3Config(
            bucket=s3_bucket,
            prefix="stats",
            endpoint=seaweedfs.endpoint,
            region="us-east-1",
            access_key=seaweedfs.access_key,
            secret_key=seaweedfs.secret_key,
        )
    )
    names = package_names(storage, "monthly")
    assert names == [p["name"] for p in summary["packages"]]
    extracted = extract_from_storage(storage, names, collectors={"events"})
    raw = extracted.frames["events"]
    assert len(raw) == EVENTS
    assert raw["event_id"].is_unique

    merged = EventsDaily()
    for day in range(3):
        since = NOV_1 + dt.timedelta(days=day)
        window = Window(since, since + dt.timedelta(days=1))
        piece = raw[(raw["time_ns"] >= window.since_ns) & (raw["time_ns"] < window.until_ns)]
        rollup = EventsDaily()
        rollup.add_csv(piece)
        rollup.group()
        path = rollup.to_parquet(tmp_path / f"rollup-{day}.parquet")
        storage.put(f"rollups/monthly-{window.slug()}-events_daily.parquet", filename=path)
        merged.add_parquet(path)
    merged.regroup()
    xlsx = write_xlsx(
        tmp_path / "report.xlsx",
        [merged],
        window=Window(NOV_1, NOV_4),
        generated_at=dt.datetime.now(dt.UTC),
    )

    sheet = load_workbook(xlsx)["events_daily"]
    header = [c.value for c in sheet[4]]
    assert header[:4] == ["day", "event", "identity", "count"]
    report: Counter[tuple[str, str]] = Counter()
    for row in sheet.iter_rows(min_row=5, values_only=True):
        report[(row[0].date().isoformat(), row[1])] += row[3]

    api = _api_counts(service, reader)
    assert sum(api.values()) == EVENTS
    assert report == api
