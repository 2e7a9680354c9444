"""The query of a time window over stored events, and one page of its answer."""

from __future__ import annotations

from dataclasses import dataclass

from stats_service.events.model import Event

__all__ = ["EventPage", "EventQuery"]


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

    def matches(self, event: Event) -> bool:
        """Whether ``event`` is in the window, after the cursor and passes every filter
        (``uid`` is the ``uid`` field when it is a string, as stores index it)."""
        if not self.since_ns <= event.time_ns < self.until_ns:
            return False
        if self.after is not None and (event.time_ns, event.event_id) <= self.after:
            return False
        if self.measurement is not None and event.measurement != self.measurement:
            return False
        if self.event is not None and event.tags.get("event") != self.event:
            return False
        if self.uid is None:
            return True
        uid = event.fields.get("uid")
        return isinstance(uid, str) and uid == self.uid


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of a window query; ``next_after`` is None on the last page."""

    events: list[Event]
    next_after: tuple[int, str] | None

    @classmethod
    def of_candidates(cls, events: list[Event], limit: int) -> EventPage:
        """The page from up to ``limit + 1`` events in order: the extra one says another
        page follows (it is dropped from ``events``, which this takes over)."""
        if len(events) <= limit:
            return cls(events=events, next_after=None)
        del events[limit:]
        last = events[-1]
        return cls(events=events, next_after=(last.time_ns, last.event_id))
