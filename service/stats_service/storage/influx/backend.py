"""What both InfluxDB backends share: configuration, context management and the page rules.

A subclass opens and closes its client, writes, gets, reports health and
finds the *candidates* of a window query: every event that may belong on the
page, at least ``limit + 1`` when another page follows. The rules around that
are the same for both API versions and live here once.
"""

from __future__ import annotations

from typing import Generic, Self, TypeVar

from stats_service.events.model import Event
from stats_service.events.query import EventPage, EventQuery

__all__ = ["InfluxBackend"]

C = TypeVar("C")


class InfluxBackend(Generic[C]):
    """Base of the InfluxDB ``EventStore`` implementations, configured by a ``C``."""

    backend_name = "influx"

    def __init__(self, config: C) -> None:
        self._config = config

    @property
    def config(self) -> C:
        """The configuration this store was built with."""
        return self._config

    async def open(self) -> None:
        """Acquire the client."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release the client."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def query(self, query: EventQuery) -> EventPage:
        """Events in ``[since_ns, until_ns)`` ordered by ``(time_ns, event_id)``.

        ``query.measurement`` None reads every measurement.
        """
        if query.limit < 1:
            raise ValueError(f"limit must be at least 1, not {query.limit}")
        if query.since_ns >= query.until_ns or query.event == "" or query.measurement == "":
            # Empty tags and measurement names are never stored (and InfluxQL
            # would take ``"event" = ''`` to mean "has no event tag").
            return EventPage(events=[], next_after=None)
        candidates = await self._candidates(query)
        candidates.sort(key=lambda e: (e.time_ns, e.event_id))
        return EventPage.of_candidates(candidates, query.limit)

    async def _candidates(self, query: EventQuery) -> list[Event]:
        """Events that may be on the page: all of it, and one more when another follows."""
        raise NotImplementedError
