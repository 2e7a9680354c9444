"""Collectors: bound first, gathered for a window; CSV chunks within the file limit."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json

import pytest

from stats_service.export.collect import EVENT_COLUMNS, GatherTarget, config, event_counts, events
from stats_service.export.errors import CollectorError, WindowError
from stats_service.settings import load_settings
from stats_service.storage.memory import MemoryStore

NOV_1 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
NOV_4 = dt.datetime(2026, 11, 4, tzinfo=dt.UTC)


def _rows(paths):
    rows = []
    for path in paths:
        with path.open(newline="") as fh:
            reader = csv.reader(fh)
            assert tuple(next(reader)) == EVENT_COLUMNS
            rows.extend(reader)
    return rows


def test_events_are_csv_chunks_within_the_file_limit_each_event_once(
    tmp_path, make_events, filled_store
):
    items = make_events(2000)
    store = filled_store(items)
    target = GatherTarget(output_dir=tmp_path, max_file_bytes=20_000)
    files = asyncio.run(events(store).gather(NOV_1, NOV_4, target))
    assert len(files) > 5
    assert all(p.stat().st_size <= 20_000 for p in files)
    rows = _rows(files)
    assert sorted(r[2] for r in rows) == sorted(e.event_id for e in items)
    times = [int(r[1]) for r in rows]
    assert times == sorted(times)
    by_id = {e.event_id: e for e in items}
    row = rows[0]
    source = by_id[row[2]]
    assert row[4] == source.tags["event"]
    assert row[5] == source.tags["identity"]
    assert row[6] == source.fields["uid"]
    assert json.loads(row[8]) == {"n": source.fields["n"], "ok": source.fields["ok"]}


def test_the_window_is_half_open(tmp_path, make_events, filled_store):
    items = make_events(300)
    store = filled_store(items)
    cut = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    cut_ns = int(cut.timestamp()) * 10**9
    target = GatherTarget(output_dir=tmp_path, max_file_bytes=10**7)
    first = _rows(asyncio.run(events(store).gather(NOV_1, cut, target)))
    (tmp_path / "b").mkdir()
    target_b = GatherTarget(output_dir=tmp_path / "b", max_file_bytes=10**7)
    second = _rows(asyncio.run(events(store).gather(cut, NOV_4, target_b)))
    assert all(int(r[1]) < cut_ns for r in first)
    assert all(int(r[1]) >= cut_ns for r in second)
    assert len(first) + len(second) == 300


def test_nothing_found_is_an_empty_result(tmp_path):
    store = MemoryStore()
    asyncio.run(store.open())
    target = GatherTarget(output_dir=tmp_path, max_file_bytes=10**6)
    assert asyncio.run(events(store).gather(NOV_1, NOV_4, target)) == []
    assert asyncio.run(event_counts(store).gather(NOV_1, NOV_4, target)) == {}
    assert list(tmp_path.iterdir()) == []


def test_event_counts_per_day_and_type(tmp_path, make_events, filled_store):
    items = make_events(500)
    doc = asyncio.run(
        event_counts(filled_store(items)).gather(
            NOV_1, NOV_4, GatherTarget(output_dir=tmp_path, max_file_bytes=10**6)
        )
    )
    assert doc["total"] == 500
    expected: dict[tuple[str, str], int] = {}
    for item in items:
        day = dt.datetime.fromtimestamp(item.time_ns / 1e9, dt.UTC).date().isoformat()
        key = (day, item.tags["event"])
        expected[key] = expected.get(key, 0) + 1
    assert {(c["day"], c["event"]): c["count"] for c in doc["counts"]} == expected


def test_config_redacts_every_secret(tmp_path):
    settings = load_settings(
        environ={},
        secret_keys=("signing-key-" + "x" * 30,),
        influxdb_password="influx-password",
        export_s3_secret_key="s3-secret-value",
        export_s3_access_key="AKIAEXAMPLE",
    )
    doc = asyncio.run(
        config(settings).gather(NOV_1, NOV_4, GatherTarget(tmp_path, max_file_bytes=10**6))
    )
    text = json.dumps(doc)
    for secret in ("signing-key-", "influx-password", "s3-secret-value"):
        assert secret not in text
    assert doc["settings"]["export_s3_secret_key"] == "<redacted>"
    assert doc["settings"]["export_s3_access_key"] == "AKIAEXAMPLE"
    assert doc["service"] == "stats-service"
    assert doc["version"]


def test_naive_or_reversed_windows_raise(tmp_path):
    store = MemoryStore()
    target = GatherTarget(tmp_path, max_file_bytes=10**6)
    with pytest.raises(WindowError):
        asyncio.run(events(store).gather(dt.datetime(2026, 11, 1), NOV_4, target))  # noqa: DTZ001
    with pytest.raises(WindowError):
        asyncio.run(events(store).gather(NOV_4, NOV_1, target))


@pytest.mark.parametrize("bad", ["", "a b", "x/../y", "semi;colon"])
def test_bad_parameters_raise_when_bound(bad):
    with pytest.raises(CollectorError):
        events(MemoryStore(), measurement=bad)
    with pytest.raises(CollectorError):
        event_counts(MemoryStore(), measurement=bad)


def test_a_store_failure_is_a_collector_error_and_leaves_no_files(tmp_path):
    store = MemoryStore()  # never opened: every query fails
    with pytest.raises(CollectorError, match="cannot read events"):
        asyncio.run(events(store).gather(NOV_1, NOV_4, GatherTarget(tmp_path, 10**6)))
    assert list(tmp_path.iterdir()) == []


def test_a_file_limit_below_one_row_is_refused_not_truncated(tmp_path, make_events, filled_store):
    store = filled_store(make_events(3))
    with pytest.raises(CollectorError, match="max_file_bytes"):
        asyncio.run(events(store).gather(NOV_1, NOV_4, GatherTarget(tmp_path, 120)))
    assert list(tmp_path.iterdir()) == []


def test_progress_is_reported_per_page(tmp_path, make_events, filled_store):
    seen = []
    store = filled_store(make_events(12_000))
    collector = events(store, on_page=lambda n, t: seen.append((n, t)))
    asyncio.run(collector.gather(NOV_1, NOV_4, GatherTarget(tmp_path, 10**8)))
    assert [n for n, _ in seen] == [5000, 10_000, 12_000]
    assert [t for _, t in seen] == sorted(t for _, t in seen)
