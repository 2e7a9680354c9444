"""``S3Storage``: objects in an S3 bucket (AWS, SeaweedFS, MinIO, ...) through boto3.

Every call has a connect and a read timeout and a bounded number of attempts
(botocore's standard retry mode: network errors, throttling and 5xx). Files
above ``multipart_threshold_bytes`` go up as a multipart upload, which S3
shows under its key only once completed (and aborts on failure); smaller
ones as one ``PutObject``, which is atomic. Errors name the bucket and the
endpoint, never the keys: a missing bucket or refused credentials are
:class:`~stats_service.export.errors.StorageRefused`.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from stats_service.export.errors import ObjectNotFound, StorageError, StorageRefused
from stats_service.export.storage.base import check_name, json_bytes, one_source

__all__ = ["S3Config", "S3Storage"]

_MIB = 1024 * 1024
_REFUSED_CODES = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "AuthorizationHeaderMalformed",
        "AllAccessDisabled",
    }
)
_MISSING_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_WILDCARDS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class S3Config:
    """Where the bucket is and how patient to be with it."""

    bucket: str
    prefix: str = ""
    endpoint: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0
    max_attempts: int = 3
    multipart_threshold_bytes: int = 8 * _MIB
    multipart_chunk_bytes: int = 8 * _MIB

    def __post_init__(self) -> None:
        if not self.bucket:
            raise StorageError("an s3 target needs a bucket (s3://bucket/prefix)")
        if self.max_attempts < 1:
            raise StorageError("max_attempts must be at least 1")


class S3Storage:
    """A :class:`~stats_service.export.storage.base.Storage` in one bucket under a prefix."""

    def __init__(self, config: S3Config) -> None:
        self._config = config
        self._prefix = config.prefix.strip("/")
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=config.endpoint or None,
            region_name=config.region or None,
            aws_access_key_id=config.access_key or None,
            aws_secret_access_key=config.secret_key or None,
            config=Config(
                connect_timeout=config.connect_timeout_seconds,
                read_timeout=config.read_timeout_seconds,
                retries={"max_attempts": config.max_attempts, "mode": "standard"},
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        self._transfer = TransferConfig(
            multipart_threshold=config.multipart_threshold_bytes,
            multipart_chunksize=config.multipart_chunk_bytes,
            max_concurrency=4,
        )

    def describe(self) -> str:
        """``s3://bucket/prefix`` (and the endpoint when one is set)."""
        where = f"s3://{self._config.bucket}/{self._prefix}".rstrip("/")
        return f"{where} at {self._config.endpoint}" if self._config.endpoint else where

    def _key(self, name: str) -> str:
        normal = check_name(name)
        return f"{self._prefix}/{normal}" if self._prefix else normal

    def _failure(self, action: str, name: str, exc: Exception) -> StorageError:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "NoSuchBucket":
                return StorageRefused(
                    f"cannot {action} {name}: bucket {self._config.bucket!r} does not exist "
                    f"({self.describe()})"
                )
            if code in _REFUSED_CODES or status == 403:
                return StorageRefused(
                    f"cannot {action} {name}: {self.describe()} refused the credentials ({code})"
                )
            if code in _MISSING_KEY_CODES:
                return ObjectNotFound(f"{name} is not stored under {self.describe()}")
            return StorageError(f"cannot {action} {name} under {self.describe()}: {code} {status}")
        return StorageError(f"cannot {action} {name} under {self.describe()}: {exc}")

    def put(
        self,
        name: str,
        *,
        dict: dict[str, Any] | None = None,  # the documented keyword
        filename: Path | str | None = None,
        fileobj: IO[bytes] | None = None,
    ) -> None:
        """Upload; large files as a multipart upload that only shows when complete."""
        one_source(dict, filename, fileobj)
        key = self._key(name)
        try:
            if dict is not None:
                self._upload(io.BytesIO(json_bytes(dict)), key, "application/json")
            elif filename is not None:
                with Path(filename).open("rb") as fh:
                    self._upload(fh, key, None)
            else:
                assert fileobj is not None
                self._upload(fileobj, key, None)
        except (ClientError, BotoCoreError) as exc:
            raise self._failure("store", name, exc) from None
        except OSError as exc:
            raise StorageError(f"cannot read the file to store as {name}: {exc}") from None

    def _upload(self, handle: IO[bytes], key: str, content_type: str | None) -> None:
        extra = {"ContentType": content_type} if content_type else None
        self._client.upload_fileobj(
            handle, self._config.bucket, key, ExtraArgs=extra, Config=self._transfer
        )

    @contextlib.contextmanager
    def get(self, name: str) -> Iterator[Path]:
        """Download into a temporary file, removed after the block."""
        key = self._key(name)
        with tempfile.TemporaryDirectory(prefix="stats-export-get-") as temp:
            path = Path(temp) / key.rsplit("/", 1)[-1]
            try:
                with path.open("wb") as out:
                    self._client.download_fileobj(
                        self._config.bucket, key, out, Config=self._transfer
                    )
            except (ClientError, BotoCoreError) as exc:
                raise self._failure("read", name, exc) from None
            yield path

    def exists(self, name: str) -> bool:
        """``HeadObject``: True on 200, False on 404."""
        try:
            self._client.head_object(Bucket=self._config.bucket, Key=self._key(name))
        except ClientError as exc:
            failure = self._failure("look up", name, exc)
            if isinstance(failure, ObjectNotFound):
                return False
            raise failure from None
        except BotoCoreError as exc:
            raise self._failure("look up", name, exc) from None
        return True

    def remove(self, name: str) -> None:
        """Delete the object (``ObjectNotFound`` when it is not there)."""
        if not self.exists(name):
            raise ObjectNotFound(f"{name} is not stored under {self.describe()}")
        try:
            self._client.delete_object(Bucket=self._config.bucket, Key=self._key(name))
        except (ClientError, BotoCoreError) as exc:
            raise self._failure("remove", name, exc) from None

    def glob(self, pattern: str) -> list[str]:
        """List the keys under the pattern's literal start, then match the rest."""
        literal = pattern
        for index, char in enumerate(pattern):
            if char in _WILDCARDS:
                literal = pattern[:index]
                break
        root = f"{self._prefix}/" if self._prefix else ""
        found: list[str] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self._config.bucket, Prefix=root + literal
            )
            for page in pages:
                for item in page.get("Contents", []):
                    name = str(item["Key"])[len(root) :]
                    if fnmatch.fnmatchcase(name, pattern):
                        found.append(name)
        except (ClientError, BotoCoreError) as exc:
            raise self._failure("list", pattern, exc) from None
        return sorted(found)
