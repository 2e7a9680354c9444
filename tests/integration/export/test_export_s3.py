"""S3Storage against a real SeaweedFS S3 gateway: the contract, multipart, refusals."""

from __future__ import annotations

import io
import os
import uuid

import pytest

from stats_service.export.errors import ObjectNotFound, StorageError, StorageRefused
from stats_service.export.storage.s3 import S3Config, S3Storage

pytestmark = [pytest.mark.integration]

MIB = 1024 * 1024


def _storage(seaweedfs, bucket, **overrides):
    config = {
        "bucket": bucket,
        "prefix": "exports/monthly",
        "endpoint": seaweedfs.endpoint,
        "region": "us-east-1",
        "access_key": seaweedfs.access_key,
        "secret_key": seaweedfs.secret_key,
        "connect_timeout_seconds": 2.0,
        "read_timeout_seconds": 10.0,
        "max_attempts": 2,
        "multipart_threshold_bytes": 5 * MIB,
        "multipart_chunk_bytes": 5 * MIB,
    }
    config.update(overrides)
    return S3Storage(S3Config(**config))


def _keys(s3_client, bucket):
    return sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_the_storage_contract_on_real_s3(seaweedfs, s3_bucket, s3_client, tmp_path):
    storage = _storage(seaweedfs, s3_bucket)
    storage.put("_state/job.json", dict={})
    with storage.get("_state/job.json") as path:
        assert path.read_bytes().strip() == b"{}"
        kept = path
    assert not kept.exists()
    source = tmp_path / "a.tar.gz"
    source.write_bytes(b"package bytes")
    storage.put("job-0001.tar.gz", filename=source)
    storage.put("job-0002.tar.gz", fileobj=io.BytesIO(b"second"))
    assert _keys(s3_client, s3_bucket) == [
        "exports/monthly/_state/job.json",
        "exports/monthly/job-0001.tar.gz",
        "exports/monthly/job-0002.tar.gz",
    ]
    assert storage.glob("job-*.tar.gz") == ["job-0001.tar.gz", "job-0002.tar.gz"]
    assert storage.glob("*.json") == ["_state/job.json"]
    assert storage.exists("job-0001.tar.gz")
    assert not storage.exists("job-0003.tar.gz")
    storage.remove("job-0001.tar.gz")
    assert storage.glob("job-*") == ["job-0002.tar.gz"]
    with pytest.raises(ObjectNotFound):
        storage.remove("job-0001.tar.gz")
    with pytest.raises(ObjectNotFound), storage.get("job-0001.tar.gz"):
        pass


def test_a_large_file_goes_up_as_multipart_and_comes_back_whole(
    seaweedfs, s3_bucket, s3_client, tmp_path
):
    storage = _storage(seaweedfs, s3_bucket)
    data = os.urandom(12 * MIB + 123)
    source = tmp_path / "big.tar.gz"
    source.write_bytes(data)
    storage.put("big.tar.gz", filename=source)
    head = s3_client.head_object(Bucket=s3_bucket, Key="exports/monthly/big.tar.gz")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3")  # three parts: a multipart upload
    with storage.get("big.tar.gz") as path:
        assert path.read_bytes() == data


class _FailingSource(io.RawIOBase):
    """Gives ``good`` bytes, then fails as a disk read error would."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.left <= 0:
            raise OSError("read error on the source disk")
        n = min(len(buffer), self.left)
        buffer[:n] = b"z" * n
        self.left -= n
        return n


def test_a_failed_multipart_upload_leaves_nothing_visible(seaweedfs, s3_bucket, s3_client):
    storage = _storage(seaweedfs, s3_bucket)
    storage.put("pkg.tar.gz", fileobj=io.BytesIO(b"the old, complete package"))
    with pytest.raises(StorageError):
        storage.put("pkg.tar.gz", fileobj=io.BufferedReader(_FailingSource(11 * MIB)))
    with storage.get("pkg.tar.gz") as path:
        assert path.read_bytes() == b"the old, complete package"
    with pytest.raises(StorageError):
        storage.put("new.tar.gz", fileobj=io.BufferedReader(_FailingSource(11 * MIB)))
    assert not storage.exists("new.tar.gz")
    assert storage.glob("*") == ["pkg.tar.gz"]
    uploads = s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
    assert uploads == []  # the failed uploads were aborted


def test_an_unfinished_multipart_upload_is_not_an_object(seaweedfs, s3_bucket, s3_client):
    key = "exports/monthly/partial.tar.gz"
    upload = s3_client.create_multipart_upload(Bucket=s3_bucket, Key=key)
    s3_client.upload_part(
        Bucket=s3_bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"p" * 5 * MIB
    )
    storage = _storage(seaweedfs, s3_bucket)
    try:
        assert not storage.exists("partial.tar.gz")
        assert storage.glob("*") == []
    finally:
        s3_client.abort_multipart_upload(Bucket=s3_bucket, Key=key, UploadId=upload["UploadId"])


def test_a_missing_bucket_is_refused_by_name(seaweedfs):
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    storage = _storage(seaweedfs, missing)
    with pytest.raises(StorageRefused, match=f"bucket '{missing}' does not exist"):
        storage.glob("*")
    with pytest.raises(StorageRefused, match="does not exist"):
        storage.put("x.json", dict={})


def test_wrong_credentials_are_refused_without_showing_them(seaweedfs, s3_bucket, s3_client):
    storage = _storage(seaweedfs, s3_bucket, secret_key="not-the-secret-key")
    with pytest.raises(StorageRefused, match="refused the credentials") as caught:
        storage.put("x.json", dict={"a": 1})
    assert "not-the-secret-key" not in str(caught.value)
    assert seaweedfs.access_key not in str(caught.value)
    assert _keys(s3_client, s3_bucket) == []


def test_an_unreachable_endpoint_fails_within_the_timeouts():
    from server_process import free_port  # noqa: PLC0415

    storage = S3Storage(
        S3Config(
            bucket="exports",
            endpoint=f"http://127.0.0.1:{free_port()}",
            access_key="a",
            secret_key="b",
            connect_timeout_seconds=0.5,
            read_timeout_seconds=0.5,
            max_attempts=2,
        )
    )
    with pytest.raises(StorageError, match=r"cannot store x\.json"):
        storage.put("x.json", dict={})
