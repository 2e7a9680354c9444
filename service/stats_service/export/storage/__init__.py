"""Storage targets of the export: one interface, a directory, S3 and memory.

:func:`open_storage` turns a target string into a storage: ``dir:/path`` (or
a plain path) for :class:`DirectoryStorage`, ``s3://bucket/prefix`` for
:class:`~stats_service.export.storage.s3.S3Storage` (imported only then, so
boto3 is needed only for S3).
"""

from __future__ import annotations

from pathlib import Path

from stats_service.export.errors import StorageError
from stats_service.export.storage.base import Storage
from stats_service.export.storage.directory import DirectoryStorage
from stats_service.export.storage.memory import MemoryStorage
from stats_service.settings import Settings

__all__ = ["DirectoryStorage", "MemoryStorage", "Storage", "open_storage"]


def open_storage(target: str, settings: Settings) -> Storage:
    """The storage ``target`` names; S3 credentials and timeouts come from ``settings``."""
    if target.startswith("s3://"):
        bucket, _, prefix = target[len("s3://") :].partition("/")
        from stats_service.export.storage.s3 import S3Config, S3Storage  # noqa: PLC0415

        return S3Storage(
            S3Config(
                bucket=bucket,
                prefix=prefix,
                endpoint=settings.export_s3_endpoint or None,
                region=settings.export_s3_region or None,
                access_key=settings.export_s3_access_key or None,
                secret_key=settings.export_s3_secret_key or None,
                connect_timeout_seconds=settings.export_s3_connect_timeout_seconds,
                read_timeout_seconds=settings.export_s3_read_timeout_seconds,
                max_attempts=settings.export_s3_max_attempts,
                multipart_threshold_bytes=settings.export_s3_multipart_threshold_bytes,
            )
        )
    if target.startswith("dir:"):
        path = target[len("dir:") :]
    elif "://" in target:
        raise StorageError(
            f"unknown storage target {target!r}: use dir:/path or s3://bucket/prefix"
        )
    else:
        path = target
    if not path:
        raise StorageError("a dir: target needs a path (dir:/srv/exports)")
    return DirectoryStorage(Path(path))
