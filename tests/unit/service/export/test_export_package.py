"""Packages: members, manifest, limits, spanning, determinism, failures."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tarfile

import pytest

from stats_service.export.collect import Collector, GatherTarget, config, events
from stats_service.export.errors import CollectorError, PackageError
from stats_service.export.package import (
    PACKAGE_FORMAT_VERSION,
    STATUS_COLUMNS,
    Package,
    PackageLimits,
    sha256_file,
)
from stats_service.settings import load_settings
from stats_service.storage.memory import MemoryStore


def _members(path):
    with tarfile.open(path, "r:gz") as tar:
        return {info.name: tar.extractfile(info).read() for info in tar}


def _names(path):
    with tarfile.open(path, "r:gz") as tar:
        return tar.getnames()


def test_one_package_holds_config_manifest_status_and_data(
    tmp_path, window, make_events, filled_store, standard_collectors, build_packages
):
    store = filled_store(make_events(1000))
    (package,) = build_packages(standard_collectors(store), window, tmp_path / "out")
    assert package.final
    assert package.name == "stats-export-20261101T000000Z-20261104T000000Z-0001.tar.gz"
    names = _names(package.path)
    assert names[:3] == ["config.json", "manifest.json", "data_collection_status.csv"]
    assert names[3:] == ["event_counts.all.json", "events.all.0001.csv"]
    members = _members(package.path)
    manifest = json.loads(members["manifest.json"])
    assert manifest["format_version"] == PACKAGE_FORMAT_VERSION
    assert manifest["window"] == {"since": "2026-11-01T00:00:00Z", "until": "2026-11-04T00:00:00Z"}
    assert [(c["name"], c["version"]) for c in manifest["collectors"]] == [
        ("config", "1"),
        ("event_counts", "1"),
        ("events", "1"),
    ]
    listed = {m["name"]: m for m in manifest["members"]}
    assert set(listed) == set(members) - {"manifest.json"}
    import hashlib  # noqa: PLC0415

    for name, data in members.items():
        if name != "manifest.json":
            assert listed[name]["sha256"] == hashlib.sha256(data).hexdigest()
            assert listed[name]["size"] == len(data)
    status = list(csv.DictReader(io.StringIO(members["data_collection_status.csv"].decode())))
    assert tuple(status[0]) == STATUS_COLUMNS
    assert [(r["collector"], r["status"]) for r in status] == [
        ("event_counts.all", "ok"),
        ("events.all", "ok"),
    ]
    assert sha256_file(package.path) == package.sha256


def test_output_spans_packages_within_the_limit_and_nothing_is_lost(
    tmp_path, window, make_events, filled_store, standard_collectors, build_packages
):
    items = make_events(6000)
    store = filled_store(items)
    limits = PackageLimits(max_package_bytes=150_000, max_file_bytes=40_000)
    packages = build_packages(standard_collectors(store), window, tmp_path / "out", limits)
    assert len(packages) >= 4
    assert [p.index for p in packages] == list(range(1, len(packages) + 1))
    assert [p.final for p in packages] == [False] * (len(packages) - 1) + [True]
    ids = []
    for package in packages:
        members = _members(package.path)
        assert sum(len(v) for v in members.values()) <= 150_000
        assert "config.json" in members
        for name, data in members.items():
            if name.startswith("events."):
                assert len(data) <= 40_000
                ids += [row[2] for row in list(csv.reader(io.StringIO(data.decode())))[1:]]
    assert sorted(ids) == sorted(e.event_id for e in items)
    assert len(ids) == len(set(ids))


def test_the_same_data_gives_byte_identical_packages(
    tmp_path, window, make_events, filled_store, standard_collectors, build_packages
):
    store = filled_store(make_events(3000))
    limits = PackageLimits(max_package_bytes=100_000, max_file_bytes=30_000)
    first = build_packages(standard_collectors(store), window, tmp_path / "a", limits)
    second = build_packages(standard_collectors(store), window, tmp_path / "b", limits)
    assert [(p.name, p.sha256) for p in first] == [(p.name, p.sha256) for p in second]
    assert first[0].path.read_bytes() == second[0].path.read_bytes()


def test_collector_files_are_removed_once_packed(
    tmp_path, window, make_events, filled_store, standard_collectors, build_packages
):
    out = tmp_path / "out"
    packages = build_packages(standard_collectors(filled_store(make_events(100))), window, out)
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in packages]


def test_a_limit_without_room_for_data_is_refused(
    tmp_path, window, make_events, filled_store, standard_collectors, build_packages
):
    store = filled_store(make_events(500))
    limits = PackageLimits(max_package_bytes=5_000, max_file_bytes=4_000)
    with pytest.raises(PackageError, match="leaves no room for data"):
        build_packages(standard_collectors(store), window, tmp_path / "out", limits)


def test_files_are_cut_to_fit_a_package_smaller_than_the_file_limit(
    tmp_path, window, make_events, filled_store, standard_collectors, build_packages
):
    store = filled_store(make_events(2000))
    limits = PackageLimits(max_package_bytes=60_000, max_file_bytes=10**9)
    packages = build_packages(standard_collectors(store), window, tmp_path / "out", limits)
    assert len(packages) > 3
    for package in packages:
        assert sum(len(v) for v in _members(package.path).values()) <= 60_000


class _Rogue(Collector):
    """Ignores the size it was asked for."""

    name = "rogue"
    version = "1"

    async def _gather(self, window, target: GatherTarget):
        path = target.output_dir / "rogue.csv"
        path.write_bytes(b"r" * 29_000)
        return [path]


def test_a_member_that_cannot_fit_is_an_error_not_a_truncation(tmp_path, window, build_packages):
    limits = PackageLimits(max_package_bytes=30_000, max_file_bytes=40_000)
    with pytest.raises(PackageError, match=r"rogue\.0001\.csv \(29000 bytes\) does not fit"):
        build_packages([config(_settings()), _Rogue()], window, tmp_path / "out", limits)


class _Failing(Collector):
    name = "failing"
    version = "3"

    async def _gather(self, window, target: GatherTarget):
        raise CollectorError("the source is down")


class _Oversized(Collector):
    name = "oversized"
    version = "1"

    async def _gather(self, window, target: GatherTarget):
        path = target.output_dir / "big.csv"
        path.write_bytes(b"x" * 2000)
        return [path]


def _settings():
    return load_settings(environ={})


def test_a_failing_collector_stops_the_stream(tmp_path, window, build_packages):
    with pytest.raises(CollectorError, match="the source is down"):
        build_packages([config(_settings()), _Failing()], window, tmp_path / "out")


def test_keep_going_records_the_failure_in_the_status(tmp_path, window, filled_store, make_events):
    store = filled_store(make_events(10))
    package = Package(
        [config(_settings()), _Failing(), events(store)], window=window, keep_going=True
    )

    async def build():
        return [p async for p in package.build(tmp_path)]

    (built,) = asyncio.run(build())
    status = list(csv.DictReader(io.StringIO(_members(built.path)[STATUS_MEMBER].decode())))
    assert [(r["collector"], r["status"], r["error"]) for r in status] == [
        ("failing", "failed", "the source is down"),
        ("events.all", "ok", ""),
    ]


STATUS_MEMBER = "data_collection_status.csv"


def test_a_file_over_the_per_file_limit_is_refused(tmp_path, window, build_packages):
    limits = PackageLimits(max_package_bytes=10**6, max_file_bytes=1000)
    with pytest.raises(PackageError, match="over max_file_bytes 1000"):
        build_packages([config(_settings()), _Oversized()], window, tmp_path / "out", limits)


def test_a_package_needs_one_config_and_distinct_collectors(window):
    store = MemoryStore()
    with pytest.raises(PackageError, match="config"):
        Package([events(store)], window=window)
    with pytest.raises(PackageError, match="same members"):
        Package([config(_settings()), events(store), events(store)], window=window)


def test_an_empty_window_still_gives_one_final_package(
    tmp_path, window, standard_collectors, build_packages
):
    store = MemoryStore()
    asyncio.run(store.open())
    (package,) = build_packages(standard_collectors(store), window, tmp_path / "out")
    assert package.final
    assert _names(package.path) == ["config.json", "manifest.json", STATUS_MEMBER]
