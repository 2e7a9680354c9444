"""The in-memory durable queue: the SQLite outbox's behaviour without a file, for tests.

"Durable" only for as long as the object lives. It keeps the rules every
:class:`~stats_service.delivery.queue.DurableQueue` keeps: idempotent ids over
the dedupe window, unique ``(series, time)`` slots, bounds that refuse a whole
append, batches in acceptance order, dead letters that replay.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from stats_service.delivery.lease import ForwardingLease, MemoryLeases
from stats_service.delivery.queue import (
    Appended,
    DeadLetter,
    OutboxCounts,
    OutboxEntry,
    OutboxFull,
    OutboxStatus,
    Rejection,
)
from stats_service.errors import InvalidEvent, ServiceUnavailable
from stats_service.events.model import Event
from stats_service.events.query import EventPage, EventQuery
from stats_service.sqlite.rows import encode_body
from stats_service.storage.influx.series import series_hash

__all__ = ["MemoryQueue"]

_NS_PER_SECOND = 1_000_000_000
_MAX_TIME_NS = 2**63 - 2
_RATE_WINDOW_SECONDS = 60
_MAX_ERROR_CHARS = 1000


@dataclass(slots=True)
class _Entry:
    event: Event
    size: int
    series: int
    accepted_ns: int
    state: str = "pending"
    done_ns: int | None = None
    reason: str = ""
    status: int | None = None


class MemoryQueue:
    """A :class:`~stats_service.delivery.queue.DurableQueue` held in dictionaries."""

    def __init__(
        self,
        *,
        max_pending_events: int = 1_000_000,
        max_pending_bytes: int = 1 << 30,
        dedupe_window_seconds: float = 86_400.0,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if max_pending_events < 1 or max_pending_bytes < 1:
            raise ValueError("the queue bounds must be positive")
        self._max_events = max_pending_events
        self._max_bytes = max_pending_bytes
        self._window_ns = int(dedupe_window_seconds * _NS_PER_SECOND)
        self._clock_ns = clock_ns
        self._entries: dict[int, _Entry] = {}  # by seq, in acceptance order
        self._by_id: dict[str, int] = {}
        self._slots: set[tuple[int, int]] = set()
        self._forwards: list[tuple[int, int]] = []  # (done_ns, events)
        self._last_forward_ns: int | None = None
        self._last_error: tuple[str, int] | None = None
        self._next_seq = 1
        self._leases = MemoryLeases()
        self._open = False

    @property
    def writable(self) -> bool:
        """Whether the queue is started."""
        return self._open

    async def start(self) -> None:
        """Accept calls (the entries stay across a stop and start)."""
        self._open = True

    async def stop(self, timeout_seconds: float = 10.0) -> bool:
        """Refuse calls until started again."""
        self._open = False
        return True

    def forwarding_lease(self) -> ForwardingLease:
        """A lease shared by everyone holding this queue."""
        return self._leases.lease()

    async def append(self, events: Sequence[Event]) -> Appended:
        """Keep ``events`` as pending, all or nothing (see the queue's rules)."""
        self._require_open()
        pending, pending_bytes = self._pending_totals()
        accepted_ns = max([self._clock_ns()] + [e.accepted_ns for e in self._entries.values()])
        taken = set(self._slots)
        new: list[_Entry] = []
        seen: set[str] = set()
        for event in events:
            body = encode_body(event)
            if event.event_id in self._by_id or event.event_id in seen:
                continue
            seen.add(event.event_id)
            series = series_hash(event.measurement, event.tags)
            time_ns = event.time_ns
            while (series, time_ns) in taken:
                time_ns += 1
            if time_ns > _MAX_TIME_NS:
                raise InvalidEvent(
                    f"event {event.event_id!r}: no free timestamp left in its series", key="time"
                )
            taken.add((series, time_ns))
            size = len(body) + len(event.event_id) + len(event.measurement)
            new.append(_Entry(replace(event, time_ns=time_ns), size, series, accepted_ns))
        size = sum(entry.size for entry in new)
        if new and (
            pending + len(new) > self._max_events or pending_bytes + size > self._max_bytes
        ):
            raise OutboxFull(
                f"the outbox is full ({pending} events, {pending_bytes} bytes pending; bounds"
                f" {self._max_events} events, {self._max_bytes} bytes): cannot accept"
                f" {len(new)} more events now"
            )
        for entry in new:
            self._entries[self._next_seq] = entry
            self._by_id[entry.event.event_id] = self._next_seq
            self._slots.add((entry.series, entry.event.time_ns))
            self._next_seq += 1
        return Appended(len(new), pending + len(new), pending_bytes + size)

    async def next_batch(
        self, max_events: int, max_bytes: int, *, after_seq: int = 0
    ) -> list[OutboxEntry]:
        """The oldest pending entries after ``after_seq`` within both limits."""
        self._require_open()
        batch: list[OutboxEntry] = []
        total = 0
        for seq, entry in self._entries.items():
            if seq <= after_seq or entry.state != "pending":
                continue
            if len(batch) == max_events or (batch and total + entry.size > max_bytes):
                break
            total += entry.size
            batch.append(OutboxEntry(seq, entry.event, entry.size))
        return batch

    async def settle(
        self, forwarded: Sequence[OutboxEntry], rejected: Sequence[Rejection] = ()
    ) -> int:
        """Mark ``forwarded`` delivered, dead-letter ``rejected``; events still pending."""
        self._require_open()
        now = self._clock_ns()
        for rejection in rejected:
            entry = self._entries.get(rejection.entry.seq)
            if entry is not None and entry.state == "pending":
                entry.state, entry.done_ns = "dead", now
                entry.reason, entry.status = rejection.reason, rejection.status
        for item in forwarded:
            entry = self._entries.get(item.seq)
            if entry is not None and entry.state == "pending":
                entry.state, entry.done_ns = "forwarded", now
        if forwarded:
            self._forwards.append((now, len(forwarded)))
            self._last_forward_ns = now
            self._last_error = None
        return self._pending_totals()[0]

    async def record_error(self, text: str) -> None:
        """Remember the last delivery error."""
        self._require_open()
        self._last_error = (text[:_MAX_ERROR_CHARS], self._clock_ns())

    async def prune(self) -> int:
        """Forget forwarded entries accepted before the dedupe window."""
        self._require_open()
        cutoff = self._clock_ns() - self._window_ns
        old = [
            seq
            for seq, entry in self._entries.items()
            if entry.state == "forwarded" and entry.accepted_ns < cutoff
        ]
        for seq in old:
            entry = self._entries.pop(seq)
            del self._by_id[entry.event.event_id]
            self._slots.discard((entry.series, entry.event.time_ns))
        return len(old)

    async def get_pending(self, event_id: str) -> Event | None:
        """The pending event with this id, or None."""
        self._require_open()
        seq = self._by_id.get(event_id)
        entry = None if seq is None else self._entries[seq]
        return entry.event if entry is not None and entry.state == "pending" else None

    async def served_since(self, event_ids: Sequence[str], since_ns: int) -> set[str]:
        """Those of ``event_ids`` pending now or forwarded at or after ``since_ns``."""
        found: set[str] = set()
        for event_id in event_ids:
            seq = self._by_id.get(event_id)
            entry = None if seq is None else self._entries.get(seq)
            if entry is not None and (
                entry.state == "pending"
                or (entry.state == "forwarded" and (entry.done_ns or 0) >= since_ns)
            ):
                found.add(event_id)
        return found

    async def forwarded_since(
        self, since_ns: int, lower: tuple[int, str] | None, upper: tuple[int, str]
    ) -> bool:
        """Whether an event keyed in ``(lower, upper]`` was forwarded at or after ``since_ns``."""
        return any(
            entry.state == "forwarded"
            and (entry.done_ns or 0) >= since_ns
            and (lower is None or (entry.event.time_ns, entry.event.event_id) > lower)
            and (entry.event.time_ns, entry.event.event_id) <= upper
            for entry in self._entries.values()
        )

    async def query_pending(self, query: EventQuery) -> EventPage:
        """Pending events in the window by ``(time_ns, event_id)``."""
        if query.limit < 1:
            raise ValueError("query limit must be at least 1")
        self._require_open()
        found = sorted(
            (
                e.event
                for e in self._entries.values()
                if e.state == "pending" and query.matches(e.event)
            ),
            key=lambda event: (event.time_ns, event.event_id),
        )
        return EventPage.of_candidates(found[: query.limit + 1], query.limit)

    async def status(self, *, backend: str = "", backend_ok: bool | None = None) -> OutboxStatus:
        """The queue's status."""
        return self.status_sync(backend=backend, backend_ok=backend_ok)

    def status_sync(self, *, backend: str = "", backend_ok: bool | None = None) -> OutboxStatus:
        """The queue's status, without awaiting."""
        self._require_open()
        now = self._clock_ns()
        pending, pending_bytes = self._pending_totals()
        oldest = next((e.accepted_ns for e in self._entries.values() if e.state == "pending"), None)
        second = now // _NS_PER_SECOND
        recent = sum(
            count
            for done, count in self._forwards
            if done // _NS_PER_SECOND > second - _RATE_WINDOW_SECONDS
        )
        counts = OutboxCounts(
            pending_events=pending,
            pending_bytes=pending_bytes,
            oldest_pending_accepted_ns=oldest,
            dead_letters=sum(1 for e in self._entries.values() if e.state == "dead"),
            forwarded_last_minute=recent,
            last_forward_ns=self._last_forward_ns,
            last_error=None if self._last_error is None else self._last_error[0],
            last_error_ns=None if self._last_error is None else self._last_error[1],
        )
        return OutboxStatus.from_counts(
            counts,
            now_ns=now,
            writable=self._open,
            max_pending_events=self._max_events,
            max_pending_bytes=self._max_bytes,
            backend=backend,
            backend_ok=backend_ok,
        )

    async def deadletters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters."""
        self._require_open()
        dead = [e for e in self._entries.values() if e.state == "dead"][:limit]
        return [
            DeadLetter(e.event, e.reason, e.status, e.accepted_ns, e.done_ns or 0) for e in dead
        ]

    async def replay(self, event_ids: Sequence[str] | None = None) -> int:
        """Make dead letters pending again (all when ``event_ids`` is None); how many."""
        self._require_open()
        wanted = None if event_ids is None else set(event_ids)
        replayed = 0
        for entry in self._entries.values():
            if entry.state == "dead" and (wanted is None or entry.event.event_id in wanted):
                entry.state, entry.done_ns, entry.reason, entry.status = "pending", None, "", None
                replayed += 1
        return replayed

    def _pending_totals(self) -> tuple[int, int]:
        pending = [e.size for e in self._entries.values() if e.state == "pending"]
        return len(pending), sum(pending)

    def _require_open(self) -> None:
        if not self._open:
            raise ServiceUnavailable("the outbox is not open")
