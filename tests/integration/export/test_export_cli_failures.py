"""``stats-service export run`` failing for real: missing bucket, refused keys, a full disk.

Each failure is one ``stats-service: ...`` line and exit 1, leaves no object
of the run visible and keeps the watermark where it was.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from export_data import generate_events

from stats_service.storage.embedded import EmbeddedStore

pytestmark = [pytest.mark.integration]

WINDOW = ["--since", "2026-11-01", "--until", "2026-11-04"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("export-cli") / "data"
    path.mkdir()

    async def fill() -> None:
        store = EmbeddedStore(path / "events.sqlite3")
        await store.open()
        await store.write(generate_events(20_000, seed=3))
        await store.close()

    asyncio.run(fill())
    return path


def _export(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STATS_")}
    environ.update(STATS_DATA_DIR=str(data_dir), STATS_EXPORT_JOB="nightly", **env)
    exe = Path(sys.executable).parent / "stats-service"
    return subprocess.run(
        [str(exe), "export", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _s3_env(seaweedfs, **overrides: str) -> dict[str, str]:
    env = {
        "STATS_EXPORT_S3_ENDPOINT": seaweedfs.endpoint,
        "STATS_EXPORT_S3_REGION": "us-east-1",
        "STATS_EXPORT_S3_ACCESS_KEY": seaweedfs.access_key,
        "STATS_EXPORT_S3_SECRET_KEY": seaweedfs.secret_key,
        "STATS_EXPORT_S3_MAX_ATTEMPTS": "2",
    }
    env.update(overrides)
    return env


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("stats-service: ")
    return last


def test_a_missing_bucket(data_dir, seaweedfs, s3_client):
    bucket = f"missing-{uuid.uuid4().hex[:8]}"
    done = _export(data_dir, "run", *WINDOW, "--to", f"s3://{bucket}/x", **_s3_env(seaweedfs))
    assert f"bucket '{bucket}' does not exist" in _one_error_line(done)
    names = [b["Name"] for b in s3_client.list_buckets()["Buckets"]]
    assert bucket not in names


def test_wrong_credentials(data_dir, seaweedfs, s3_bucket, s3_client):
    env = _s3_env(seaweedfs, STATS_EXPORT_S3_SECRET_KEY="wrong-secret-value")
    done = _export(data_dir, "run", *WINDOW, "--to", f"s3://{s3_bucket}/x", **env)
    assert "refused the credentials" in _one_error_line(done)
    assert "wrong-secret-value" not in done.stderr + done.stdout
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("Contents", []) == []


def test_a_good_run_then_a_corrupted_package_is_caught_by_verify(
    data_dir, seaweedfs, s3_bucket, s3_client
):
    target = f"s3://{s3_bucket}/x"
    env = _s3_env(seaweedfs)
    done = _export(data_dir, "run", *WINDOW, "--to", target, "--max-package-bytes", "600000", **env)
    assert done.returncode == 0, done.stderr
    keys = sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"])
    packages = [k for k in keys if k.endswith(".tar.gz")]
    assert len(packages) > 1
    assert "x/_state/nightly.json" in keys
    assert _export(data_dir, "verify", "--from", target, **env).returncode == 0
    body = s3_client.get_object(Bucket=s3_bucket, Key=packages[1])["Body"].read()
    s3_client.put_object(Bucket=s3_bucket, Key=packages[1], Body=body[:-100])
    line = _one_error_line(_export(data_dir, "verify", "--from", target, **env))
    assert packages[1].rsplit("/", 1)[-1] in line


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs (root only), unmounted after the test."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def test_a_full_disk(data_dir, tiny_disk):
    target = tiny_disk / "exports"
    first = _export(
        data_dir,
        "run",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-01T02:00:00Z",
        "--to",
        f"dir:{target}",
    )
    assert first.returncode == 0, first.stderr
    before = sorted(p.relative_to(target) for p in target.rglob("*") if p.is_file())
    state = (target / "_state" / "nightly.json").read_bytes()
    done = _export(
        data_dir, "run", *WINDOW, "--to", f"dir:{target}", "--max-package-bytes", "150000"
    )
    line = _one_error_line(done)
    assert "No space left on device" in line
    after = sorted(p.relative_to(target) for p in target.rglob("*") if p.is_file())
    assert after == before  # no partial object, no temporary file, nothing new
    assert (target / "_state" / "nightly.json").read_bytes() == state
