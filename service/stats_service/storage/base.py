"""The storage interface every backend implements, the query types it takes, and the
backend-neutral refusal of a write (what the forwarder acts on)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from stats_service.errors import StatsServiceError
from stats_service.events.model import Event
from stats_service.events.query import EventPage, EventQuery

__all__ = [
    "EventPage",
    "EventQuery",
    "EventStore",
    "LocalStore",
    "StoreHealth",
    "WriteRejected",
]


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """What ``/ping`` and the readiness probe report about a backend."""

    backend: str
    ok: bool
    detail: str = ""


class EventStore(Protocol):
    """Durable event storage.

    ``write`` returns only once every event is durable; an ``event_id`` that is
    already stored is ignored (idempotent), so a retried event is kept once.
    """

    async def open(self) -> None:
        """Acquire resources (files, connections, threads)."""

    async def close(self) -> None:
        """Release everything ``open`` acquired; pending writes finish first."""

    async def write(self, events: Sequence[Event]) -> None:
        """Store ``events`` durably; duplicates by ``event_id`` are skipped."""

    async def get(self, event_id: str) -> Event | None:
        """The stored event with this id, or None."""

    async def query(self, query: EventQuery) -> EventPage:
        """Events in the window, oldest first, at most ``query.limit``."""

    async def health(self) -> StoreHealth:
        """Whether the backend can take writes now."""


@runtime_checkable
class LocalStore(Protocol):
    """A store that keeps events itself, with no outbox, and says quickly whether it
    can write (the embedded store): ``stats_backend_up`` is read from it."""

    @property
    def writable(self) -> bool:
        """Whether the store is open and can commit writes now (no I/O)."""
        ...


class WriteRejected(StatsServiceError):
    """The backend refused some or all events of a write; sending them again will not help.

    Every event of the write not in ``rejected_event_ids`` was stored, unless
    ``rejected_event_ids`` is None: then it is not known which were, and
    writing the events again one by one tells (rewriting a stored event
    changes nothing). ``status`` 413 means the request was too large: split
    the write rather than give up on its events.
    """

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        dropped: int | None = None,
        rejected_event_ids: frozenset[str] | None = None,
        backend: str = "the backend",
    ) -> None:
        super().__init__(f"{backend} rejected points: {reason}")
        self.reason = reason
        """The backend's own text."""
        self.status = status
        """The backend's status (HTTP), None when it gave none."""
        self.dropped = dropped
        """How many points the backend said it dropped, when it said."""
        self.rejected_event_ids = rejected_event_ids
