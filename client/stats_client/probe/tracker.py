"""What the probe knows about every probe event it sent: the bookkeeping, no I/O.

Each scheduled event is tracked from the moment it is due: ``posted`` (the
service answered 2xx) or ``post_failed``, then ``received`` (by the stream,
or confirmed by a fetch), or ``lost`` once ``mark_lost_after_seconds`` have
passed without it (counted once). An arrival after that counts as late, not
as a duplicate; a second arrival of a received event is a duplicate. Entries
are forgotten after ``purge_after_seconds``, so memory stays bounded.

Missing share, per window W, is recomputed by :meth:`Tracker.tick` from the
events sent in the last ``W + grace`` seconds (grace = the loss timeout):
of those already decided (received, lost, or failed to post), the share not
received. A total outage therefore drives it to 1.0 instead of freezing it.
Every time is a monotonic reading passed in by the caller.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

__all__ = ["Arrival", "Sent", "State", "Tracker", "TrackerCounts"]


class State(enum.Enum):
    """Where one probe event stands."""

    DUE = "due"
    POSTED = "posted"
    POST_FAILED = "post_failed"
    RECEIVED = "received"
    LOST = "lost"


class Arrival(enum.Enum):
    """What an arrival of an event meant."""

    FIRST = "first"
    DUPLICATE = "duplicate"
    LATE = "late"
    UNKNOWN = "unknown"


@dataclass(slots=True)
class Sent:
    """One probe event."""

    event_id: str
    seq: int
    due_at: float
    state: State = State.DUE
    received_at: float | None = None
    by_fetch: bool = False
    lost_counted: bool = False

    @property
    def latency_seconds(self) -> float | None:
        """From due to received, once received."""
        return None if self.received_at is None else self.received_at - self.due_at


@dataclass(slots=True)
class TrackerCounts:
    """Totals since start (the counters of the metrics)."""

    posted: int = 0
    post_failed: int = 0
    received: int = 0
    confirmed_by_fetch: int = 0
    lost: int = 0
    late: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    wrong_probe: int = 0


@dataclass
class Tracker:
    """The events of one probe run, keyed by event id in the order they were due."""

    probe_id: str
    windows_seconds: Mapping[str, float]
    mark_lost_after_seconds: float = 300.0
    purge_after_seconds: float = 900.0
    counts: TrackerCounts = field(default_factory=TrackerCounts)
    missing_share: dict[str, float] = field(default_factory=dict)
    _events: OrderedDict[str, Sent] = field(default_factory=OrderedDict)
    _highest_seq_received: int = -1

    def __post_init__(self) -> None:
        self.missing_share = dict.fromkeys(self.windows_seconds, 0.0)

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Sent]:
        return iter(list(self._events.values()))

    def due(self, event_id: str, seq: int, now: float) -> Sent:
        """A new event is being sent now."""
        sent = self._events[event_id] = Sent(event_id, seq, now)
        return sent

    def posted(self, event_id: str) -> None:
        """The service answered 2xx for the event."""
        sent = self._events.get(event_id)
        if sent is not None:
            self.counts.posted += 1
            if sent.state is State.DUE:
                sent.state = State.POSTED

    def post_failed(self, event_id: str) -> None:
        """Posting the event failed (after its retries)."""
        sent = self._events.get(event_id)
        if sent is not None:
            self.counts.post_failed += 1
            if sent.state is State.DUE:
                sent.state = State.POST_FAILED

    def arrived(
        self, event_id: str, probe_id: str | None, now: float, *, by_fetch: bool = False
    ) -> tuple[Arrival, Sent | None]:
        """An event came back (from the stream, or a fetch found it)."""
        if probe_id != self.probe_id:
            self.counts.wrong_probe += 1
            return Arrival.UNKNOWN, None
        sent = self._events.get(event_id)
        if sent is None:
            return Arrival.UNKNOWN, None
        if sent.state is State.RECEIVED:
            if not by_fetch:
                self.counts.duplicates += 1
            return Arrival.DUPLICATE, sent
        if sent.state is State.LOST:
            self.counts.late += 1
            sent.state, sent.received_at, sent.by_fetch = State.RECEIVED, now, by_fetch
            return Arrival.LATE, sent
        sent.state, sent.received_at, sent.by_fetch = State.RECEIVED, now, by_fetch
        self.counts.received += 1
        if by_fetch:
            self.counts.confirmed_by_fetch += 1
        if sent.seq < self._highest_seq_received:
            self.counts.out_of_order += 1
        self._highest_seq_received = max(self._highest_seq_received, sent.seq)
        return Arrival.FIRST, sent

    def unconfirmed(self, now: float, older_than_seconds: float) -> list[Sent]:
        """Posted events not received ``older_than_seconds`` after they were due."""
        return [
            sent
            for sent in self._events.values()
            if sent.state is State.POSTED and now - sent.due_at >= older_than_seconds
        ]

    def tick(self, now: float) -> None:
        """Mark lost events, forget old ones, recompute the missing shares."""
        for sent in self._events.values():
            overdue = now - sent.due_at >= self.mark_lost_after_seconds
            if overdue and sent.state in (State.DUE, State.POSTED, State.POST_FAILED):
                sent.state = State.LOST
                if not sent.lost_counted:
                    sent.lost_counted = True
                    self.counts.lost += 1
        while self._events:
            first = next(iter(self._events.values()))
            if now - first.due_at <= self.purge_after_seconds:
                break
            self._events.popitem(last=False)
        grace = self.mark_lost_after_seconds
        for name, window in self.windows_seconds.items():
            decided = missing = 0
            for sent in self._events.values():
                if now - sent.due_at > window + grace:
                    continue
                if sent.state is State.RECEIVED:
                    decided += 1
                elif sent.state in (State.LOST, State.POST_FAILED):
                    decided += 1
                    missing += 1
            self.missing_share[name] = missing / decided if decided else 0.0
