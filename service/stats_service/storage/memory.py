"""The in-memory event store: the embedded store's behaviour without a file.

For tests and throwaway development runs. Data lives as long as the object
(``close`` then ``open`` keeps it). Events are copied in and out, so callers
mutating their dictionaries never change what is stored.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from stats_service.errors import InvalidEvent, ServiceUnavailable
from stats_service.events.model import Event
from stats_service.storage.base import EventPage, EventQuery, StoreHealth
from stats_service.storage.log import LogEntry

__all__ = ["MemoryStore"]


def _copy(event: Event) -> Event:
    return Event(
        event_id=event.event_id,
        measurement=event.measurement,
        time_ns=event.time_ns,
        tags=dict(event.tags),
        fields=dict(event.fields),
    )


def _refuse_non_finite(event: Event) -> None:
    for key, value in event.fields.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidEvent(f"field {key!r} is not a finite number", key=key)


def _matches(event: Event, query: EventQuery) -> bool:
    if query.measurement is not None and event.measurement != query.measurement:
        return False
    if query.event is not None and event.tags.get("event") != query.event:
        return False
    if query.uid is not None:
        # Like the embedded store, only a string ``uid`` field is filterable.
        uid = event.fields.get("uid")
        if not isinstance(uid, str) or uid != query.uid:
            return False
    return True


class MemoryStore:
    """An :class:`~stats_service.storage.base.EventStore` held in a dict and a sorted key list."""

    def __init__(self) -> None:
        self._by_id: dict[str, Event] = {}
        self._keys: list[tuple[int, str]] = []  # (time_ns, event_id), ascending
        self._log: list[str] = []  # event ids in commit order; position = index + 1
        self._open = False

    async def open(self) -> None:
        """Start accepting calls."""
        self._open = True

    async def close(self) -> None:
        """Stop accepting calls; the data stays for a later ``open``."""
        self._open = False

    async def write(self, events: Sequence[Event]) -> None:
        """Store copies of ``events``; ids already stored are skipped (first wins).

        Like the embedded store, a NaN or infinite field refuses the whole call.
        """
        self._require_open()
        for event in events:
            _refuse_non_finite(event)
        for event in events:
            if event.event_id in self._by_id:
                continue
            self._by_id[event.event_id] = _copy(event)
            self._log.append(event.event_id)
            bisect.insort(self._keys, (event.time_ns, event.event_id))

    async def get(self, event_id: str) -> Event | None:
        """A copy of the stored event with this id, or None."""
        self._require_open()
        event = self._by_id.get(event_id)
        return None if event is None else _copy(event)

    async def query(self, query: EventQuery) -> EventPage:
        """Events in ``[since_ns, until_ns)`` matching the filters, by ``(time_ns, event_id)``."""
        if query.limit < 1:
            raise ValueError("query limit must be at least 1")
        self._require_open()
        start = bisect.bisect_left(self._keys, (query.since_ns, ""))
        if query.after is not None:
            start = max(start, bisect.bisect_right(self._keys, query.after))
        keys = self._keys
        found: list[Event] = []
        for index in range(start, len(keys)):
            time_ns, event_id = keys[index]
            if time_ns >= query.until_ns:
                break
            event = self._by_id[event_id]
            if _matches(event, query):
                if len(found) == query.limit:
                    last = found[-1]
                    return EventPage(events=found, next_after=(last.time_ns, last.event_id))
                found.append(_copy(event))
        return EventPage(events=found, next_after=None)

    async def read_after(self, seq: int, limit: int) -> list[LogEntry]:
        """Up to ``limit`` events stored after position ``seq``, in the order stored."""
        self._require_open()
        start = max(seq, 0)
        return [
            LogEntry(index + 1, event_id, _copy(self._by_id[event_id]))
            for index, event_id in enumerate(self._log[start : start + limit], start)
        ]

    async def position_of(self, event_id: str) -> int | None:
        """The position of the event with this id, or None."""
        self._require_open()
        try:
            return self._log.index(event_id) + 1
        except ValueError:
            return None

    async def head(self) -> int:
        """How many events are stored."""
        self._require_open()
        return len(self._log)

    async def health(self) -> StoreHealth:
        """Healthy while open."""
        if not self._open:
            return StoreHealth(backend="memory", ok=False, detail="not open")
        return StoreHealth(backend="memory", ok=True, detail=f"{len(self._by_id)} events")

    def event_ids(self) -> list[str]:
        """Ids of the stored events by ``(time_ns, event_id)``, open or closed (for tests)."""
        return [event_id for _, event_id in self._keys]

    def _require_open(self) -> None:
        if not self._open:
            raise ServiceUnavailable("the memory store is not open")
