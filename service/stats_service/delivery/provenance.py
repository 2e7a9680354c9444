"""Which backend wrote a durable queue, beside the one the configuration names.

``stats-service outbox status`` reads an outbox left in a data dir; the
configuration it runs with may name another backend (the embedded store over
a data dir an InfluxDB service wrote, or ``influxdb`` over an ``influxdb2``
one). The status reports what the file says, and the mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from stats_service.delivery.queue import DurableQueue, OutboxStatus

__all__ = ["BackendRecord", "OutboxReport", "report_outbox"]


@runtime_checkable
class BackendRecord(Protocol):
    """A queue that records the backend of the service writing it (the SQLite outbox)."""

    async def recorded_backend(self) -> str | None:
        """The recorded backend's name; None when none is recorded."""
        ...


@dataclass(frozen=True, slots=True)
class OutboxReport:
    """A queue's status with the backend found in it (``status.backend``, "" when
    unknown) and the configured one."""

    status: OutboxStatus
    configured_backend: str

    @property
    def found_backend(self) -> str | None:
        """The backend that wrote the queue, None when it is not recorded."""
        return self.status.backend or None

    @property
    def matches(self) -> bool:
        """Whether the configured backend is the one that wrote the queue."""
        return self.found_backend == self.configured_backend

    def as_dict(self) -> dict[str, Any]:
        """The status, ``backend`` the one found, with ``configured_backend`` and
        ``backend_matches_configuration``."""
        return {
            **self.status.as_dict(),
            "backend": self.found_backend,
            "configured_backend": self.configured_backend,
            "backend_matches_configuration": self.matches,
        }

    def warning(self) -> str | None:
        """One sentence on a mismatch with the configuration; None when they match."""
        if self.matches:
            return None
        configured = f"the configuration names {self.configured_backend} (storage_backend)"
        if self.found_backend is None:
            return (
                "the backend that wrote this outbox is not recorded (no service has started"
                f" on it since the record was introduced); {configured}"
            )
        return f"this outbox was written by the {self.found_backend} backend, but {configured}"


async def report_outbox(queue: DurableQueue, configured_backend: str) -> OutboxReport:
    """The status of the started ``queue``, with the backend it records (if it can)."""
    found = await queue.recorded_backend() if isinstance(queue, BackendRecord) else None
    status = await queue.status(backend=found or "")
    return OutboxReport(status, configured_backend)
