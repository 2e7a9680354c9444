"""Which durable log a stream tails, for the store the service runs.

The embedded store is its own log (the ``events`` table). With an InfluxDB
backend the outbox is the log (every accepted event, in acceptance order,
kept for the dedupe window) and the backend supplies the bodies of the
events already forwarded. A queue that is not a log but can open one (the
Kafka topic: every replica tails all its partitions) gives that log, with
the events in it. A store or queue that cannot be read in commit order gives
no log: the stream then answers 503.
"""

from __future__ import annotations

from stats_service.delivery.durable import DurableStore
from stats_service.storage.base import EventStore
from stats_service.storage.log import EventLog, LiveLogSource, LogEntry

__all__ = ["OutboxLog", "event_log_of"]


class OutboxLog:
    """The outbox of a :class:`DurableStore` as an :class:`EventLog`; forwarded
    events are read back from the backend (an event it no longer has is skipped)."""

    def __init__(self, queue: EventLog, store: DurableStore) -> None:
        self._queue = queue
        self._store = store

    async def read_after(self, seq: int, limit: int) -> list[LogEntry]:
        """Entries after ``seq``, each with its event."""
        entries: list[LogEntry] = []
        for entry in await self._queue.read_after(seq, limit):
            if entry.event is None:
                event = await self._store.backend.get(entry.event_id)
                entries.append(LogEntry(entry.seq, entry.event_id, event))
            else:
                entries.append(entry)
        return entries

    async def position_of(self, event_id: str) -> int | None:
        """The outbox position of ``event_id``."""
        return await self._queue.position_of(event_id)

    async def head(self) -> int:
        """The outbox's newest position."""
        return await self._queue.head()


def event_log_of(store: EventStore) -> EventLog | None:
    """The log a stream over ``store`` tails, or None when it has none."""
    if isinstance(store, DurableStore):
        queue = store.queue
        if isinstance(queue, LiveLogSource):
            return queue.live_log()
        return OutboxLog(queue, store) if isinstance(queue, EventLog) else None
    return store if isinstance(store, EventLog) else None
