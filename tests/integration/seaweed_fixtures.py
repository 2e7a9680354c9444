"""Pytest fixtures for a real SeaweedFS S3 server: one per session, one bucket per test.

A missing ``weed`` binary (``make seaweedfs`` builds it) fails the test under
CI (``CI=true``) and skips it elsewhere, like the influxd fixtures.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from seaweedfs import SeaweedFS, weed_executable

__all__ = ["require_weed", "s3_bucket", "s3_client", "seaweedfs"]


def require_weed() -> str:
    """The weed binary; fails under CI and skips elsewhere when it is not built."""
    executable = weed_executable()
    if executable is None:
        message = "SeaweedFS is not built (run `make seaweedfs`)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI must run the S3 export tests")
        pytest.skip(message)
    return executable


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """A running ``weed server -s3`` on free loopback ports."""
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"), executable=require_weed())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_client(seaweedfs: SeaweedFS) -> Any:
    """A plain boto3 client of the server (to check what the storage did)."""
    import boto3  # noqa: PLC0415 - the export extra
    from botocore.config import Config  # noqa: PLC0415

    return boto3.client(
        "s3",
        endpoint_url=seaweedfs.endpoint,
        region_name="us-east-1",
        aws_access_key_id=seaweedfs.access_key,
        aws_secret_access_key=seaweedfs.secret_key,
        config=Config(
            s3={"addressing_style": "path"},
            connect_timeout=5,
            read_timeout=30,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


@pytest.fixture
def s3_bucket(s3_client: Any) -> str:
    """A new, empty bucket no other test uses."""
    name = f"export-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name
