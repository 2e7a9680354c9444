"""The storage interface every backend implements, and the query types it takes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from stats_service.events.model import Event

__all__ = ["EventPage", "EventQuery", "EventStore", "StoreHealth"]


@dataclass(frozen=True, slots=True)
class EventQuery:
    """A half-open time window ``[since_ns, until_ns)`` with optional filters.

    Results are ordered by ``(time_ns, event_id)``; ``after`` is the key of the
    last event of the previous page (keyset pagination), exclusive.
    """

    since_ns: int
    until_ns: int
    limit: int
    event: str | None = None
    uid: str | None = None
    measurement: str | None = None
    after: tuple[int, str] | None = None


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of a window query; ``next_after`` is None on the last page."""

    events: list[Event]
    next_after: tuple[int, str] | None


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
