"""Runs: packages stored, watermark moved after the last one, idempotent, clean on failure."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from stats_service.export.errors import ExportLocked, StorageError
from stats_service.export.package import PackageLimits
from stats_service.export.run import package_names, package_window, run_export
from stats_service.export.state import JobState, RunLock, read_state, write_state
from stats_service.export.storage import MemoryStorage
from stats_service.export.window import Window
from stats_service.settings import load_settings

UTC = dt.UTC
NOV_1 = dt.datetime(2026, 11, 1, tzinfo=UTC)
NOV_4 = dt.datetime(2026, 11, 4, tzinfo=UTC)
LIMITS = PackageLimits(max_package_bytes=100_000, max_file_bytes=30_000)


@pytest.fixture
def settings(tmp_path):
    return load_settings(environ={}, data_dir=tmp_path / "data")


@pytest.fixture(scope="module")
def store(make_events, filled_store):
    return filled_store(make_events(3000))


def _run(store, storage, settings, window=None, limits=LIMITS, job="monthly"):
    return asyncio.run(
        run_export(
            store=store,
            storage=storage,
            settings=settings,
            window=window or Window(NOV_1, NOV_4),
            job=job,
            limits=limits,
        )
    )


def test_a_run_stores_every_package_and_then_the_watermark(store, settings):
    storage = MemoryStorage()
    result = _run(store, storage, settings)
    assert result.events == 3000
    assert len(result.packages) > 2
    names = [p.name for p in result.packages]
    assert package_names(storage, "monthly") == names
    assert names[0] == "monthly-20261101T000000Z-20261104T000000Z-0001.tar.gz"
    state = read_state(storage, "monthly")
    assert state.watermark == NOV_4
    assert state.last_run["events"] == 3000
    assert [p["name"] for p in state.last_run["packages"]] == names
    assert result.watermark_before is None


def test_re_running_a_window_gives_the_same_names_and_hashes(store, settings):
    storage = MemoryStorage()
    first = _run(store, storage, settings)
    stored = dict(storage.objects)
    second = _run(store, storage, settings)
    assert [(p.name, p.sha256) for p in first.packages] == [
        (p.name, p.sha256) for p in second.packages
    ]
    for package in first.packages:
        assert storage.objects[package.name] == stored[package.name]
    assert second.watermark_before == NOV_4
    assert second.removed == []


def test_a_re_run_with_fewer_packages_removes_the_leftovers(store, settings):
    storage = MemoryStorage()
    many = _run(store, storage, settings)
    few = _run(store, storage, settings, limits=PackageLimits())
    assert len(few.packages) == 1 < len(many.packages)
    assert few.removed == [p.name for p in many.packages[1:]]
    assert package_names(storage, "monthly") == [few.packages[0].name]


def test_a_failed_put_leaves_no_new_package_and_the_watermark_unchanged(store, settings):
    storage = MemoryStorage()
    write_state(storage, JobState(job="monthly", watermark=NOV_1))
    storage.puts = 0
    storage.fail_puts_after = 2
    with pytest.raises(StorageError, match="no space left"):
        _run(store, storage, settings)
    assert package_names(storage, "monthly") == []
    assert read_state(storage, "monthly").watermark == NOV_1


def test_a_failed_re_run_keeps_the_packages_an_earlier_run_stored(store, settings):
    storage = MemoryStorage()
    first = _run(store, storage, settings)
    storage.puts = 0
    storage.fail_puts_after = 1
    with pytest.raises(StorageError):
        _run(store, storage, settings)
    assert package_names(storage, "monthly") == [p.name for p in first.packages]
    assert read_state(storage, "monthly").watermark == NOV_4


def test_the_watermark_never_moves_back(store, settings):
    storage = MemoryStorage()
    _run(store, storage, settings)
    earlier = _run(store, storage, settings, window=Window(NOV_1, NOV_1 + dt.timedelta(days=1)))
    assert earlier.watermark == NOV_4
    assert read_state(storage, "monthly").watermark == NOV_4


def test_jobs_are_independent(store, settings):
    storage = MemoryStorage()
    _run(store, storage, settings, job="a")
    assert read_state(storage, "b").watermark is None
    assert package_names(storage, "b") == []


def test_an_overlapping_run_of_the_same_job_is_refused(store, settings):
    storage = MemoryStorage()
    with RunLock(settings.data_dir, "monthly"):
        with pytest.raises(ExportLocked, match="monthly"):
            _run(store, storage, settings)
        _run(store, storage, settings, job="other")  # another job is not blocked
    assert package_names(storage, "monthly") == []
    _run(store, storage, settings)  # the lock went with the block


def test_package_window_reads_the_name_back():
    window = Window(NOV_1, NOV_4)
    assert package_window("m", f"m-{window.slug()}-0003.tar.gz") == window
    assert package_window("m", "other-20261101T000000Z-20261104T000000Z-0001.tar.gz") is None
    assert package_window("m", "m-garbage-0001.tar.gz") is None
