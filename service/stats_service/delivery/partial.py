"""Window reads that go on while the backend is down: partial pages, and cursors that
resume them with no event twice and none missing.

While the backend (InfluxDB) cannot be queried, a window read answers the
events still pending in the durable queue (every event accepted since the
backend went away is there) and says the answer is partial. Its position
then has two parts, carried by the cursor (:class:`PartialPosition`):

* ``complete_after``: the answer is complete up to this key (the position
  the partial pages started from; None for the start of the window);
* ``pending_after``: the pending events are answered up to this key;
* ``since_ns``: when the first partial page was read (queue clock).

The backend's events between the two keys were not given. Once the backend
answers again, a read at such a position starts over from
``complete_after`` and leaves out the events the partial pages gave: those
in ``(complete_after, pending_after]`` that are still pending or were
forwarded since ``since_ns`` (the queue remembers forwarded ids for its
dedupe window). An event forwarded after ``since_ns`` but before the partial
page that covered its key was read would be left out wrongly; a partial page
that finds one answers 503 instead (the backend takes writes but not
queries), so that never happens.

As with every keyset cursor, an event accepted behind a position (an older
``time``) after the page that passed it is not seen by that pagination.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from stats_service.delivery.queue import DurableQueue
from stats_service.errors import ServiceUnavailable
from stats_service.events.model import Event
from stats_service.events.query import EventPage, EventQuery
from stats_service.storage.base import EventStore

__all__ = [
    "PartialPosition",
    "PartialReads",
    "WindowAnswer",
    "WindowReader",
    "read_window",
]

_log = logging.getLogger(__name__)

Key = tuple[int, str]

_BACKEND_UNAVAILABLE = "backend-unavailable"
"""The reason of a partial answer (``X-Stats-Partial``)."""


@dataclass(frozen=True, slots=True)
class PartialPosition:
    """Where a pagination stands after partial pages (see the module docstring)."""

    complete_after: Key | None
    pending_after: Key | None
    since_ns: int


@dataclass(frozen=True, slots=True)
class WindowAnswer:
    """One page of a window read.

    ``next_after`` (a complete position) or ``next_partial`` (a partial one)
    continues it; both are None on the last page. ``resume`` is set on a
    partial page only: the position to read from once the backend is back.
    """

    events: list[Event]
    next_after: Key | None = None
    next_partial: PartialPosition | None = None
    resume: PartialPosition | None = None
    reason: str | None = None
    """Why the page is partial (``backend-unavailable``); None when complete."""

    @property
    def partial(self) -> bool:
        """Whether the backend's events are missing from this page."""
        return self.resume is not None


@runtime_checkable
class PartialReads(Protocol):
    """The two reads of a durable queue that partial pages need (the SQLite outbox has them)."""

    async def served_since(self, event_ids: Sequence[str], since_ns: int) -> set[str]:
        """Those of ``event_ids`` pending now, or forwarded at or after ``since_ns``."""
        ...

    async def forwarded_since(self, since_ns: int, lower: Key | None, upper: Key) -> bool:
        """Whether an event with ``lower < (time_ns, event_id) <= upper`` (``lower``
        None: no lower bound) was forwarded at or after ``since_ns``."""
        ...


@runtime_checkable
class WindowReader(Protocol):
    """A store whose window reads can be partial (``DurableStore``)."""

    async def read_window(
        self, query: EventQuery, position: PartialPosition | None = None
    ) -> WindowAnswer:
        """One page from ``query.after`` (or ``position``), partial while the backend is down."""
        ...


def _key(event: Event) -> Key:
    return (event.time_ns, event.event_id)


def _merge(first: Sequence[Event], second: Sequence[Event]) -> list[Event]:
    by_id = {e.event_id: e for e in first}
    by_id.update((e.event_id, e) for e in second if e.event_id not in by_id)
    return sorted(by_id.values(), key=_key)


async def read_window(
    queue: DurableQueue,
    backend: EventStore,
    query: EventQuery,
    position: PartialPosition | None = None,
    *,
    clock_ns: Callable[[], int] = time.time_ns,
) -> WindowAnswer:
    """One page of ``query`` over ``queue`` and ``backend``; ``position`` (a partial
    cursor) overrides ``query.after``. Raises what the backend raises when the
    queue cannot serve partial pages."""
    if query.limit < 1:
        raise ValueError("query limit must be at least 1")
    start = position.complete_after if position is not None else query.after
    now_ns = clock_ns()  # before the pending read: see the module docstring
    at_start = EventQuery(
        query.since_ns, query.until_ns, query.limit, query.event, query.uid, query.measurement
    )
    reads = queue if isinstance(queue, PartialReads) else None
    pending = await queue.query_pending(_at(at_start, start))
    try:
        stored = await backend.query(_at(at_start, start))
    except ServiceUnavailable as exc:
        if reads is None:
            raise
        _log.info("the backend cannot be queried (%s); answering a partial page", exc)
        return await _partial(queue, reads, at_start, position, start, now_ns)
    if position is None or position.pending_after is None:
        merged = _merge(pending.events, stored.events)
        return _complete(merged, query.limit, pending, stored)
    if reads is None:
        raise TypeError("a partial position needs a queue with partial reads")
    return await _resume(queue, reads, backend, at_start, position, (pending, stored))


def _at(query: EventQuery, after: Key | None) -> EventQuery:
    return EventQuery(
        query.since_ns,
        query.until_ns,
        query.limit,
        query.event,
        query.uid,
        query.measurement,
        after,
    )


def _complete(merged: list[Event], limit: int, first: EventPage, second: EventPage) -> WindowAnswer:
    more = len(merged) > limit or first.next_after is not None or second.next_after is not None
    del merged[limit:]
    if not more or not merged:
        return WindowAnswer(merged)
    return WindowAnswer(merged, next_after=_key(merged[-1]))


async def _partial(
    queue: DurableQueue,
    reads: PartialReads,
    query: EventQuery,
    position: PartialPosition | None,
    start: Key | None,
    now_ns: int,
) -> WindowAnswer:
    """The pending events after the pending position, with the position that resumes them."""
    since_ns = now_ns if position is None else position.since_ns
    pending_after = start if position is None else position.pending_after
    page = await queue.query_pending(_at(query, pending_after))
    upper = _key(page.events[-1]) if page.events else None
    if upper is not None and await reads.forwarded_since(since_ns, pending_after, upper):
        raise ServiceUnavailable(
            "the backend takes writes but cannot be queried now; retry shortly",
            retry_after_seconds=5,
        )
    reached = upper if upper is not None else pending_after
    resume = PartialPosition(start, reached, since_ns)
    return WindowAnswer(
        page.events,
        next_partial=resume if page.next_after is not None else None,
        resume=resume,
        reason=_BACKEND_UNAVAILABLE,
    )


async def _resume(
    queue: DurableQueue,
    reads: PartialReads,
    backend: EventStore,
    query: EventQuery,
    position: PartialPosition,
    first: tuple[EventPage, EventPage],
) -> WindowAnswer:
    """A complete page from ``complete_after``, without what the partial pages gave."""
    boundary = position.pending_after
    assert boundary is not None
    pending, stored = first
    kept: list[Event] = []
    cursor = position.complete_after
    while True:
        merged = _merge(pending.events, stored.events)
        more = (
            len(merged) > query.limit
            or pending.next_after is not None
            or stored.next_after is not None
        )
        del merged[query.limit :]
        behind = [e.event_id for e in merged if _key(e) <= boundary]
        served = await reads.served_since(behind, position.since_ns) if behind else set()
        kept.extend(event for event in merged if event.event_id not in served)
        if merged:
            cursor = _key(merged[-1])
        if len(kept) >= query.limit or not more:
            break
        pending = await queue.query_pending(_at(query, cursor))
        stored = await backend.query(_at(query, cursor))
    if len(kept) > query.limit:
        del kept[query.limit :]
        cursor = _key(kept[-1])
        more = True
    if not more or cursor is None:
        return WindowAnswer(kept)
    if cursor < boundary:
        return WindowAnswer(kept, next_partial=PartialPosition(cursor, boundary, position.since_ns))
    return WindowAnswer(kept, next_after=cursor)
