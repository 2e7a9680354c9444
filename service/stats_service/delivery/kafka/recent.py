"""What this replica produced lately, readable before a forwarder stored it.

In Kafka mode an event reaches InfluxDB only once a forwarder wrote it, so a
read right after the ``2xx`` would miss it. Each replica therefore keeps the
messages it produced, as the broker acknowledged them, for its newest
``read_your_writes_events`` events: ``GET /log/event/{id}`` and window reads
on the replica that took the write find them at once (the store merges them
with InfluxDB's answer, de-duplicated by id). Other replicas see an event once
it is forwarded.

The messages are kept encoded (the bytes that were produced) with the time
each event was sent with, and decoded only when read (a window decodes only
what was sent inside it), so the write path pays one dictionary insert per
event. A decoded
event carries the time its point gets in InfluxDB (the deterministic
timestamp of :mod:`.codec`), so both answers agree.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from stats_service.delivery.kafka.codec import decode_event
from stats_service.events.model import Event
from stats_service.events.query import EventPage, EventQuery

__all__ = ["RecentWrites"]

_SUB_MICROSECOND = 1000


class RecentWrites:
    """The newest ``capacity`` produced messages by event id (0 keeps none)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        # event id -> (its time as sent, the message value)
        self._messages: OrderedDict[str, tuple[int, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._messages)

    def add(self, events: Sequence[Event], messages: Sequence[tuple[bytes, bytes]]) -> None:
        """Remember ``events`` as their acknowledged ``(key, value)`` messages (in the same
        order); the oldest go past capacity."""
        if self._capacity <= 0:
            return
        kept = self._messages
        for event, (_key, value) in zip(events, messages, strict=True):
            kept.pop(event.event_id, None)
            kept[event.event_id] = (event.time_ns, value)
        while len(kept) > self._capacity:
            kept.popitem(last=False)

    def get(self, event_id: str) -> Event | None:
        """The event with this id, if this replica produced it lately."""
        kept = self._messages.get(event_id)
        return None if kept is None else decode_event(event_id.encode("utf-8"), kept[1])

    def query(self, query: EventQuery) -> EventPage:
        """The kept events in the window, by ``(time_ns, event_id)``, one page."""
        if query.limit < 1:
            raise ValueError("query limit must be at least 1")
        # The point's time is the sent time plus under a microsecond (``.codec``): only
        # messages sent within the window, widened by that, are decoded.
        low, high = query.since_ns - _SUB_MICROSECOND, query.until_ns
        candidates = (
            decode_event(key.encode("utf-8"), value)
            for key, (sent_ns, value) in list(self._messages.items())
            if low <= sent_ns < high
        )
        found = sorted(
            (event for event in candidates if query.matches(event)),
            key=lambda event: (event.time_ns, event.event_id),
        )
        return EventPage.of_candidates(found[: query.limit + 1], query.limit)
