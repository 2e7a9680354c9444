"""The durable queue seam: what the forwarder, ``DurableStore`` and the CLI need of a queue.

Every accepted event is appended to a :class:`DurableQueue` before it is
acknowledged; the forwarder drains it towards the storage backend. One
implementation keeps it in a local SQLite file
(:class:`~stats_service.delivery.outbox.Outbox`), another in memory for tests
(:class:`~stats_service.delivery.memory.MemoryQueue`); a new one (e.g. Kafka)
implements the same Protocol and is returned by the one factory,
:func:`stats_service.backends.build_queue`.

What every implementation promises:

* ``append`` returns once the events are durable; it is all or nothing, skips
  ids it already holds (pending, dead-lettered, or forwarded within its dedupe
  window) and raises :class:`OutboxFull` when a bound would be passed;
* two events of one InfluxDB series never share a timestamp (see
  :mod:`stats_service.storage.influx.series`): a later one moves forward by
  the fewest nanoseconds that make it unique;
* ``next_batch`` hands out pending entries oldest first, ``settle`` marks them
  forwarded or dead-lettered in one step, ``replay`` makes dead letters
  pending again;
* ``get_pending`` and ``query_pending`` read what is not yet forwarded, so the
  events are found right after their 2xx (read your writes).

The types below (entries, rejections, dead letters, counts, status, the
queue-full error) are shared by every implementation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from stats_service.delivery.lease import ForwardingLease
from stats_service.errors import ServiceUnavailable
from stats_service.events.model import Event
from stats_service.events.query import EventPage, EventQuery
from stats_service.storage.influx.stored import EncodedEvent, line_event

__all__ = [
    "Appended",
    "DeadLetter",
    "DeliveryReporter",
    "DurableQueue",
    "LineAppender",
    "OutboxCounts",
    "OutboxEntry",
    "OutboxFull",
    "OutboxStatus",
    "ProbedQueue",
    "QueueUnavailable",
    "Rejection",
    "append_encoded",
]

_NS_PER_SECOND = 1_000_000_000
_RATE_WINDOW_SECONDS = 60


class OutboxFull(ServiceUnavailable):
    """Accepting these events would take the outbox over its bound of events or bytes."""


class QueueUnavailable(ServiceUnavailable):
    """The queue cannot take the events now (e.g. no Kafka broker acknowledged them)."""


class OutboxEntry:
    """One pending event as the forwarder reads it: its row number, the event, its size.

    A queue that keeps the event's line-protocol line (the SQLite outbox)
    passes ``line`` and ``event_id`` instead of the event: the forwarder sends
    the line as it is, and ``event`` is decoded from it only when asked for
    (a backend that wants events, a log line). Entries compare by all four.
    """

    __slots__ = ("_event", "_line", "event_id", "seq", "size")

    def __init__(
        self,
        seq: int,
        event: Event | None = None,
        size: int = 0,
        *,
        line: bytes | None = None,
        event_id: str | None = None,
    ) -> None:
        if event is None and (line is None or event_id is None):
            raise ValueError("an outbox entry needs its event, or its line and event id")
        self.seq = seq
        self.size = size
        self._event = event
        self._line = line
        self.event_id: str = event.event_id if event is not None else str(event_id)

    @classmethod
    def of_line(cls, seq: int, size: int, event_id: str, line: bytes) -> OutboxEntry:
        """An entry holding only its line (what the SQLite outbox reads, once per event)."""
        entry = cls.__new__(cls)
        entry.seq = seq
        entry.size = size
        entry._event = None
        entry._line = line
        entry.event_id = event_id
        return entry

    @property
    def event(self) -> Event:
        """The event (decoded from the line the first time, when only that is held)."""
        if self._event is None:
            assert self._line is not None
            self._event = line_event(self._line)
        return self._event

    @property
    def line(self) -> bytes | None:
        """The stored line-protocol line, None when the queue holds the event only."""
        return self._line

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OutboxEntry):
            return NotImplemented
        return (self.seq, self.size, self.event) == (other.seq, other.size, other.event)

    def __hash__(self) -> int:
        return hash((self.seq, self.event_id))

    def __repr__(self) -> str:
        return f"OutboxEntry(seq={self.seq!r}, event_id={self.event_id!r}, size={self.size!r})"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A pending entry the backend refused for good, with the backend's reason."""

    entry: OutboxEntry
    reason: str
    status: int | None = None
    """The backend's HTTP status, None when the event never reached it."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead-lettered event, why the backend refused it, and when."""

    event: Event
    reason: str
    status: int | None
    """The backend's HTTP status, None when the event never reached it."""
    accepted_ns: int
    """When the outbox accepted it (ns since the epoch)."""
    dead_lettered_ns: int
    """When it was dead-lettered (ns since the epoch)."""


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    """What the outbox file says about delivery, readable from any process."""

    pending_events: int
    pending_bytes: int
    oldest_pending_accepted_ns: int | None
    """Acceptance time of the oldest pending event; None when nothing is pending."""
    dead_letters: int
    forwarded_last_minute: int
    """Events forwarded in the last 60 seconds (by the clock of the outbox)."""
    last_forward_ns: int | None
    last_error: str | None
    """The last delivery error; None once a later delivery succeeded."""
    last_error_ns: int | None


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """Delivery at a glance, for ``/ping``, metrics and ``stats-service outbox status``.

    ``state`` is ``ok`` (delivering, or nothing to deliver), ``retrying`` (the
    last delivery attempt failed; backing off), ``full`` (at a bound: writes
    are refused with 503) or ``closed``. ``ready`` says whether the service
    should take traffic: the outbox is writable, and the backend is reachable
    or the backlog is under its bounds.
    """

    state: str
    ready: bool
    pending_events: int
    pending_bytes: int
    max_pending_events: int
    max_pending_bytes: int
    oldest_pending_age_seconds: float | None
    """Age of the oldest pending event; None when nothing is pending."""
    forward_rate_events_per_second: float
    """Events forwarded per second, averaged over the last minute."""
    dead_letters: int
    last_error: str | None
    """The last delivery error, cleared by the next successful delivery."""
    last_error_age_seconds: float | None
    backend: str
    backend_ok: bool | None
    """Whether the last contact with the backend succeeded; None before any."""

    @classmethod
    def from_counts(
        cls,
        counts: OutboxCounts,
        *,
        now_ns: int,
        writable: bool,
        max_pending_events: int,
        max_pending_bytes: int,
        backend: str = "",
        backend_ok: bool | None = None,
    ) -> OutboxStatus:
        """The status these counts imply; ``backend_ok`` None derives it from the last error."""
        if backend_ok is None and (counts.last_error is not None or counts.last_forward_ns):
            backend_ok = counts.last_error is None
        full = (
            counts.pending_events >= max_pending_events or counts.pending_bytes >= max_pending_bytes
        )
        if not writable:
            state = "closed"
        elif full:
            state = "full"
        elif backend_ok is False:
            state = "retrying"
        else:
            state = "ok"
        oldest = counts.oldest_pending_accepted_ns
        error_ns = counts.last_error_ns
        return cls(
            state=state,
            ready=writable and (backend_ok is not False or not full),
            pending_events=counts.pending_events,
            pending_bytes=counts.pending_bytes,
            max_pending_events=max_pending_events,
            max_pending_bytes=max_pending_bytes,
            oldest_pending_age_seconds=(
                None if oldest is None else max(0.0, (now_ns - oldest) / _NS_PER_SECOND)
            ),
            forward_rate_events_per_second=counts.forwarded_last_minute / _RATE_WINDOW_SECONDS,
            dead_letters=counts.dead_letters,
            last_error=counts.last_error,
            last_error_age_seconds=(
                None if error_ns is None else max(0.0, (now_ns - error_ns) / _NS_PER_SECOND)
            ),
            backend=backend,
            backend_ok=backend_ok,
        )

    def as_dict(self) -> dict[str, Any]:
        """The status as JSON-ready values."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class Appended:
    """What one append did: how many events were new, and the pending totals after it."""

    inserted: int
    """Events committed by this append (known ids are skipped)."""
    pending_events: int
    pending_bytes: int


class DurableQueue(Protocol):
    """A durable queue of accepted events, drained by one forwarder at a time.

    ``start``/``stop`` bracket its use; every other method needs it started.
    """

    @property
    def writable(self) -> bool:
        """Whether appends can be committed now."""
        ...

    async def start(self) -> None:
        """Make the queue ready for appends and reads (create it if it may)."""
        ...

    async def stop(self, timeout_seconds: float = 10.0) -> bool:
        """Commit what is queued and release everything; False if that overran."""
        ...

    def forwarding_lease(self) -> ForwardingLease:
        """The lease a process holds while it forwards this queue (one at a time)."""
        ...

    # -- the write path and the forwarder's steps ----------------------------

    async def append(self, events: Sequence[Event]) -> Appended:
        """Commit ``events`` as pending, all or nothing (raises :class:`OutboxFull`)."""
        ...

    async def next_batch(
        self, max_events: int, max_bytes: int, *, after_seq: int = 0
    ) -> list[OutboxEntry]:
        """The oldest pending entries after ``after_seq``, within both limits
        (one larger entry still comes alone)."""
        ...

    async def settle(
        self, forwarded: Sequence[OutboxEntry], rejected: Sequence[Rejection] = ()
    ) -> int:
        """Mark ``forwarded`` delivered and dead-letter ``rejected`` in one step;
        the number of events still pending."""
        ...

    async def record_error(self, text: str) -> None:
        """Remember the last delivery error (shown until a delivery succeeds)."""
        ...

    async def prune(self) -> int:
        """Forget forwarded events older than the dedupe window; how many."""
        ...

    # -- reads ----------------------------------------------------------------

    async def get_pending(self, event_id: str) -> Event | None:
        """The pending event with this id, or None."""
        ...

    async def query_pending(self, query: EventQuery) -> EventPage:
        """Pending events in the window by ``(time_ns, event_id)``, like a store's ``query``."""
        ...

    async def status(self, *, backend: str = "", backend_ok: bool | None = None) -> OutboxStatus:
        """Backlog, bounds, age, forward rate, dead letters and last error."""
        ...

    def status_sync(self, *, backend: str = "", backend_ok: bool | None = None) -> OutboxStatus:
        """:meth:`status`, blocking and quick, without an event loop (scrape-time gauges)."""
        ...

    # -- dead letters -----------------------------------------------------------

    async def deadletters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters."""
        ...

    async def replay(self, event_ids: Sequence[str] | None = None) -> int:
        """Make dead letters pending again (all when ``event_ids`` is None); how many."""
        ...


@runtime_checkable
class LineAppender(Protocol):
    """A queue that also takes events already encoded as their lines (the SQLite outbox).

    Optional: :func:`append_encoded` falls back to ``append`` of the decoded
    events for a queue without it.
    """

    async def append_lines(self, events: Sequence[EncodedEvent]) -> Appended:
        """``append`` of the events these lines stand for (same rules, same result)."""
        ...


async def append_encoded(queue: DurableQueue, events: Sequence[EncodedEvent]) -> Appended:
    """Commit encoded ``events`` to any queue: as lines when it takes them, else as events."""
    if isinstance(queue, LineAppender):
        return await queue.append_lines(events)
    return await queue.append([line_event(event.line) for event in events])


@runtime_checkable
class DeliveryReporter(Protocol):
    """A store that delivers through a durable queue and can tell how delivery goes.

    ``DurableStore`` is one; ``/ping`` and the scrape-time gauges ask any
    store that is one, whatever its class.
    """

    async def status(self, *, backend_ok: bool | None = None) -> OutboxStatus:
        """Backlog, age, forward rate, dead letters, last error and state."""
        ...

    def status_sync(self) -> OutboxStatus | None:
        """:meth:`status` without awaiting (scrape time); None when not open."""
        ...


@runtime_checkable
class ProbedQueue(Protocol):
    """A queue on remote brokers (Kafka) whose reachability readiness depends on."""

    async def probe(self) -> str | None:
        """None when the brokers answer now, else why not (bounded, a few seconds)."""
        ...
