"""The storage contract over the directory and memory targets (S3: tests/integration/export)."""

from __future__ import annotations

import errno
import io
import json

import pytest

from stats_service.export.errors import ObjectNotFound, StorageError
from stats_service.export.storage import DirectoryStorage, MemoryStorage, open_storage
from stats_service.settings import load_settings


@pytest.fixture(params=["directory", "memory"])
def storage(request, tmp_path):
    if request.param == "directory":
        return DirectoryStorage(tmp_path / "target")
    return MemoryStorage()


def _read(storage, name):
    with storage.get(name) as path:
        return path.read_bytes()


def test_put_dict_filename_and_fileobj_round_trip(storage, tmp_path):
    storage.put("a/doc.json", dict={"b": 1, "a": [1, 2]})
    assert json.loads(_read(storage, "a/doc.json")) == {"a": [1, 2], "b": 1}
    source = tmp_path / "source.bin"
    source.write_bytes(b"\x00\x01" * 1000)
    storage.put("files/one.bin", filename=source)
    assert _read(storage, "files/one.bin") == source.read_bytes()
    storage.put("files/two.bin", fileobj=io.BytesIO(b"two"))
    assert _read(storage, "files/two.bin") == b"two"


def test_an_empty_dict_is_stored_as_braces(storage):
    storage.put("empty.json", dict={})
    assert _read(storage, "empty.json").strip() == b"{}"


def test_get_yields_a_temporary_file_removed_after(storage):
    storage.put("x.json", dict={"k": "v"})
    with storage.get("x.json") as path:
        assert path.exists()
    assert not path.exists()


def test_exists_remove_and_glob(storage):
    for name in ("job-1.tar.gz", "job-2.tar.gz", "other-1.tar.gz", "_state/job.json"):
        storage.put(name, fileobj=io.BytesIO(b"x"))
    assert storage.glob("job-*.tar.gz") == ["job-1.tar.gz", "job-2.tar.gz"]
    assert storage.glob("_state/*") == ["_state/job.json"]
    assert storage.exists("job-1.tar.gz")
    storage.remove("job-1.tar.gz")
    assert not storage.exists("job-1.tar.gz")
    assert storage.glob("job-*") == ["job-2.tar.gz"]


def test_missing_objects_are_object_not_found(storage):
    with pytest.raises(ObjectNotFound), storage.get("nothing"):
        pass
    with pytest.raises(ObjectNotFound):
        storage.remove("nothing")
    assert not storage.exists("nothing")


@pytest.mark.parametrize("name", ["", "/abs", "../up", "a/../../b", "a//b", "a\\b"])
def test_names_are_relative_keys(storage, name):
    with pytest.raises(StorageError):
        storage.put(name, dict={})


def test_put_takes_exactly_one_source(storage):
    with pytest.raises(StorageError, match="exactly one"):
        storage.put("x", dict={}, fileobj=io.BytesIO(b""))
    with pytest.raises(StorageError, match="exactly one"):
        storage.put("x")


class _DiskFull(io.RawIOBase):
    """A source that fails half way, as a full disk or a lost mount does."""

    def __init__(self) -> None:
        self.sent = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.sent >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.sent += 1
        return b"y" * 1024


def test_a_failed_directory_put_leaves_the_old_object_and_no_temporary_file(tmp_path):
    storage = DirectoryStorage(tmp_path)
    storage.put("pkg.tar.gz", fileobj=io.BytesIO(b"old"))
    with pytest.raises(StorageError, match="No space left"):
        storage.put("pkg.tar.gz", fileobj=_DiskFull())
    assert _read(storage, "pkg.tar.gz") == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg.tar.gz"]
    with pytest.raises(StorageError):
        storage.put("new.tar.gz", fileobj=_DiskFull())
    assert not storage.exists("new.tar.gz")
    assert storage.glob("*") == ["pkg.tar.gz"]


def test_directory_objects_are_readable_files(tmp_path):
    storage = DirectoryStorage(tmp_path)
    storage.put("d/x.json", dict={"a": 1})
    assert (tmp_path / "d" / "x.json").stat().st_mode & 0o777 == 0o644


def test_the_memory_target_can_fail_like_a_full_disk():
    storage = MemoryStorage(fail_puts_after=1)
    storage.put("one", dict={})
    with pytest.raises(StorageError, match="no space left"):
        storage.put("two", dict={})
    assert storage.glob("*") == ["one"]


def test_open_storage_reads_the_target_string(tmp_path):
    settings = load_settings(environ={})
    assert isinstance(open_storage(f"dir:{tmp_path}", settings), DirectoryStorage)
    assert open_storage(str(tmp_path), settings).describe() == f"dir:{tmp_path}"
    with pytest.raises(StorageError, match="unknown storage target"):
        open_storage("ftp://host/x", settings)
    with pytest.raises(StorageError, match="needs a path"):
        open_storage("dir:", settings)
    with pytest.raises(StorageError, match="needs a bucket"):
        open_storage("s3://", settings)


def test_the_s3_target_takes_its_settings_and_hides_the_secret():
    settings = load_settings(
        environ={},
        export_s3_endpoint="http://127.0.0.1:1",
        export_s3_access_key="AK",
        export_s3_secret_key="very-secret",
    )
    storage = open_storage("s3://bucket/some/prefix", settings)
    assert storage.describe() == "s3://bucket/some/prefix at http://127.0.0.1:1"
    assert "very-secret" not in repr(vars(storage).get("_config"))
