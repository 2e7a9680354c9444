"""Verification against the manifest, and extraction into dataframes."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import pytest

from stats_service.export.errors import ChecksumMismatch, PackageCorrupt
from stats_service.export.extract import extract
from stats_service.export.package import PackageLimits
from stats_service.export.verify import verify_package


@pytest.fixture(scope="module")
def packages(
    tmp_path_factory, window, make_events, filled_store, standard_collectors, build_packages
):
    store = filled_store(make_events(4000))
    limits = PackageLimits(max_package_bytes=120_000, max_file_bytes=40_000)
    out = tmp_path_factory.mktemp("packages")
    return build_packages(standard_collectors(store), window, out / "out", limits)


def _rewrite(source, target, change):
    """Copy a package, letting ``change(name, data)`` alter members (manifest kept as is)."""
    with tarfile.open(source, "r:gz") as tar:
        members = [(info, tar.extractfile(info).read()) for info in tar]
    with tarfile.open(target, "w:gz") as out:
        for info, data in members:
            new = change(info.name, data)
            if new is None:
                continue
            info.size = len(new)
            out.addfile(info, io.BytesIO(new))
    return target


def test_extract_loads_every_event_once_with_types(packages, make_events):
    assert len(packages) > 2
    result = extract([p.path for p in packages])
    frame = result.frames["events"]
    assert len(frame) == 4000
    assert frame["event_id"].is_unique
    assert str(frame["time_ns"].dtype) == "int64"
    assert str(frame["time"].dtype).startswith("datetime64[ns, UTC]")
    assert result.documents["event_counts"][0]["total"] == 4000
    assert result.config["service"] == "stats-service"
    assert set(result.status["status"]) == {"ok"}
    assert len(result.manifests) == len(packages)


def test_a_subset_loads_only_those_collectors(packages):
    result = extract([p.path for p in packages], collectors={"event_counts"})
    assert result.frames == {}
    assert result.documents["event_counts"][0]["total"] == 4000


def test_a_changed_member_is_a_mismatch_naming_it(packages, tmp_path):
    def change(name, data):
        return data.replace(b"app.open", b"app.opeN", 1) if name.startswith("events.") else data

    source = packages[1].path
    tampered = _rewrite(source, tmp_path / "tampered.tar.gz", change)
    with tarfile.open(tampered) as tar:
        member = next(n for n in tar.getnames() if n.startswith("events."))
    (tmp_path / "x").mkdir()
    with pytest.raises(ChecksumMismatch) as caught:
        verify_package(tampered, tmp_path / "x")
    assert caught.value.member == member
    assert member in caught.value.message


def test_a_missing_or_extra_member_is_a_mismatch(packages, tmp_path):
    source = packages[0].path
    dropped = _rewrite(
        source, tmp_path / "dropped.tar.gz", lambda n, d: None if n == "config.json" else d
    )
    (tmp_path / "a").mkdir()
    with pytest.raises(ChecksumMismatch, match=r"'config\.json' is missing"):
        verify_package(dropped, tmp_path / "a")

    with tarfile.open(source, "r:gz") as tar:
        members = [(i, tar.extractfile(i).read()) for i in tar]
    extra = tmp_path / "extra.tar.gz"
    with tarfile.open(extra, "w:gz") as out:
        for info, data in members:
            out.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("../../evil.csv")
        info.size = 1
        out.addfile(info, io.BytesIO(b"x"))
    (tmp_path / "b").mkdir()
    with pytest.raises(ChecksumMismatch, match=r"evil\.csv"):
        verify_package(extra, tmp_path / "b")
    assert not (tmp_path.parent / "evil.csv").exists()


def test_a_truncated_or_foreign_file_is_corrupt(packages, tmp_path):
    data = packages[0].path.read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(data[: len(data) // 2])
    (tmp_path / "a").mkdir()
    with pytest.raises(PackageCorrupt, match=r"truncated\.tar\.gz"):
        verify_package(truncated, tmp_path / "a")
    foreign = tmp_path / "foreign.tar.gz"
    foreign.write_bytes(gzip.compress(b"not a tarball at all" * 100))
    (tmp_path / "b").mkdir()
    with pytest.raises(PackageCorrupt):
        verify_package(foreign, tmp_path / "b")
    plain = tmp_path / "plain.tar.gz"
    plain.write_bytes(b"neither gzip nor tar")
    with pytest.raises(PackageCorrupt, match=r"plain\.tar\.gz is not a readable package"):
        verify_package(plain, tmp_path / "b")


def test_a_manifest_of_another_format_is_refused(packages, tmp_path):
    def change(name, data):
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        manifest["format_version"] = 99
        return json.dumps(manifest).encode()

    other = _rewrite(packages[0].path, tmp_path / "other.tar.gz", change)
    (tmp_path / "a").mkdir()
    with pytest.raises(PackageCorrupt, match="format 99"):
        verify_package(other, tmp_path / "a")


def test_an_empty_window_still_gives_an_events_frame_with_its_columns(
    tmp_path, window, standard_collectors, build_packages
):
    import asyncio  # noqa: PLC0415

    from stats_service.export.collect import EVENT_COLUMNS  # noqa: PLC0415
    from stats_service.storage.memory import MemoryStore  # noqa: PLC0415

    store = MemoryStore()
    asyncio.run(store.open())
    packages = build_packages(standard_collectors(store), window, tmp_path / "out")
    frame = extract([p.path for p in packages]).frames["events"]
    assert len(frame) == 0
    assert list(frame.columns) == [*EVENT_COLUMNS]
    assert str(frame["time"].dtype).startswith("datetime64[ns, UTC]")
    assert extract([p.path for p in packages], collectors={"event_counts"}).frames == {}
