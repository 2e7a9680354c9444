"""The errors of the InfluxDB backends (both API versions)::

StatsServiceError
└── InfluxError                  500 if one ever reaches a client
    ├── InfluxUnavailable        also a ServiceUnavailable: retry later (503)
    ├── InfluxWriteRejected      also a WriteRejected: points refused for good
    └── InfluxQueryFailed        a query that retrying will not fix
"""

from __future__ import annotations

from stats_service.errors import ServiceUnavailable, StatsServiceError
from stats_service.storage.base import WriteRejected

__all__ = ["InfluxError", "InfluxQueryFailed", "InfluxUnavailable", "InfluxWriteRejected"]


class InfluxError(StatsServiceError):
    """Base of the errors the InfluxDB backends raise (500 if one ever reaches a client)."""


class InfluxUnavailable(InfluxError, ServiceUnavailable):
    """InfluxDB cannot take the request now (down, 5xx, 408, 429, timeout, credentials).

    Retry later; nothing of the request is known to be stored. Being a
    ``ServiceUnavailable``, it answers 503 with ``Retry-After`` if a read
    route lets it through.
    """

    def __init__(
        self,
        message: str,
        *,
        influx_status: int | None = None,
        retry_after_seconds: int = 1,
    ) -> None:
        super().__init__(message, retry_after_seconds=retry_after_seconds)
        self.influx_status = influx_status
        """InfluxDB's HTTP status, None when no answer came."""


class InfluxWriteRejected(InfluxError, WriteRejected):
    """InfluxDB refused some or all points of a batch: a :class:`WriteRejected`.

    ``dropped`` is the ``dropped=N`` InfluxDB reported: type conflicts, not
    unparsable lines. ``influx_status`` is InfluxDB's HTTP status (``status``).
    """

    def __init__(
        self,
        reason: str,
        *,
        influx_status: int | None = None,
        dropped: int | None = None,
        rejected_event_ids: frozenset[str] | None = None,
    ) -> None:
        WriteRejected.__init__(
            self,
            reason,
            status=influx_status,
            dropped=dropped,
            rejected_event_ids=rejected_event_ids,
            backend="InfluxDB",
        )

    @property
    def influx_status(self) -> int | None:
        """InfluxDB's HTTP status."""
        return self.status


class InfluxQueryFailed(InfluxError):
    """InfluxDB answered a query with an error that retrying will not fix."""
