"""Where and how to reach InfluxDB: the configuration of each backend."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

__all__ = ["InfluxDB2Config", "InfluxDBConfig"]


@dataclass(frozen=True, slots=True, repr=False)
class InfluxDBConfig:
    """Where and how to reach an InfluxDB v1 HTTP API."""

    url: str
    """Base URL, e.g. ``http://127.0.0.1:8086`` (a path prefix is kept)."""
    database: str = "stats"
    """Database to write to and read from; created at ``open`` when missing."""
    retention_policy: str | None = None
    """Retention policy to write to and read from; None uses the database default."""
    username: str | None = None
    """User for HTTP basic authentication; None sends no credentials."""
    password: str | None = None
    """Password for ``username``; never logged nor put in an error message."""
    verify_tls: bool = True
    """Check the server certificate for ``https`` URLs."""
    timeout_seconds: float = 10.0
    """Connect, read and write timeout of one request."""
    measurement: str = "analytics"
    """Measurement that ``count`` reads (``get`` and ``query`` read them all)."""

    def __repr__(self) -> str:
        shown = httpx.URL(self.url).copy_with(username=None, password=None)
        return (
            f"InfluxDBConfig(url={str(shown)!r}, database={self.database!r},"
            f" retention_policy={self.retention_policy!r}, username={self.username!r},"
            f" verify_tls={self.verify_tls!r}, timeout_seconds={self.timeout_seconds!r},"
            f" measurement={self.measurement!r})"
        )


@dataclass(frozen=True, slots=True, repr=False)
class InfluxDB2Config:
    """Where and how to reach an InfluxDB 2.x API."""

    url: str
    """Base URL, e.g. ``http://127.0.0.1:8086``."""
    org: str
    """Organisation name or id."""
    bucket: str
    """Bucket to write to and read from (it must exist)."""
    token: str
    """API token with write (and, for reads, read) access to the bucket; never shown."""
    verify_tls: bool = True
    """Check the server certificate for ``https`` URLs."""
    timeout_seconds: float = 10.0
    """Timeout of one request."""
    measurement: str = "analytics"
    """The service's default measurement (``get`` and ``query`` read them all)."""

    def __repr__(self) -> str:
        return (
            f"InfluxDB2Config(url={self.url!r}, org={self.org!r}, bucket={self.bucket!r},"
            f" token='***', verify_tls={self.verify_tls!r},"
            f" timeout_seconds={self.timeout_seconds!r}, measurement={self.measurement!r})"
        )
