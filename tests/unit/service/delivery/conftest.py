"""Fixtures for the delivery tests: events, virtual time, an InfluxDB-like fake backend.

``InfluxLikeBackend`` keeps points the way InfluxDB does: one point per
series (measurement and non-empty tags) and timestamp, a later write to the
same point overwriting its fields. So a test that two events "are both
stored" fails if they were sent with the same series and time. Failures are
scripted: unavailable for the next N writes, points to reject (reporting
their ids or not), a largest accepted batch (413 above it), events the
encoder refuses, a gate that holds writes in flight.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

from stats_service.delivery.outbox import Outbox
from stats_service.errors import InvalidEvent
from stats_service.events.model import Event, FieldValue
from stats_service.storage.base import EventPage, EventQuery, StoreHealth
from stats_service.storage.influx.errors import InfluxUnavailable, InfluxWriteRejected

T = TypeVar("T")

T0 = 1_700_000_000_000_000_000
SAFETY_SECONDS = 20.0
"""Upper bound on any real wait in these tests; a correct forwarder never gets near it."""

PointKey = tuple[str, frozenset[tuple[str, str]], int]


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    """Run one async scenario, bounded in real time."""

    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), SAFETY_SECONDS)

    return asyncio.run(bounded())


class VirtualTime:
    """A clock, a wall clock and a ``sleep`` that only move when the test advances them."""

    def __init__(self, start_ns: int = T0) -> None:
        self.now = 0.0
        self.start_ns = start_ns
        self.requested: list[float] = []
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self.now

    def wall_ns(self) -> int:
        return self.start_ns + int(self.now * 1_000_000_000)

    async def sleep(self, seconds: float) -> None:
        self.requested.append(seconds)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._order), future))
        self._wake_due()
        await future

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self._wake_due()

    @property
    def sleeping(self) -> int:
        return sum(1 for _, _, future in self._sleepers if not future.done())

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self.now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)


@pytest.fixture
def vtime() -> VirtualTime:
    return VirtualTime()


async def _eventually(
    predicate: Callable[[], Awaitable[bool]],
    *,
    vtime: VirtualTime | None = None,
    step_seconds: float = 0.25,
    what: str = "condition",
) -> None:
    """Wait until ``predicate()`` holds, advancing virtual time a step per round.

    Rounds yield for a millisecond of real time so the outbox threads can
    work; the whole wait is bounded by the scenario's safety timeout.
    """
    for _ in range(10_000):
        if await predicate():
            return
        if vtime is not None:
            vtime.advance(step_seconds)
        await asyncio.sleep(0.001)
    raise AssertionError(f"{what} never held")


@pytest.fixture
def eventually() -> Callable[..., Awaitable[None]]:
    """``await eventually(predicate, vtime=..., what=...)``: poll an async predicate, bounded."""
    return _eventually


@pytest.fixture
def run_bounded() -> Callable[[Callable[[], Awaitable[T]]], T]:
    """``run_bounded(scenario)``: ``asyncio.run`` with a safety timeout."""
    return run


class InfluxLikeBackend:
    """An in-memory backend that stores points as InfluxDB does, with scripted failures."""

    backend_name = "influx-like"

    def __init__(self) -> None:
        self.points: dict[PointKey, dict[str, FieldValue]] = {}
        self.calls: list[list[str]] = []
        self.opened = 0
        self.open_failures = 0
        self.unavailable = 0
        self.retry_after_seconds = 1
        self.rejected: dict[str, str] = {}
        self.report_rejected_ids = True
        self.max_batch: int | None = None
        self.refused: set[str] = set()
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.broken: Exception | None = None

    # -- the EventStore interface --

    async def open(self) -> None:
        if self.open_failures:
            self.open_failures -= 1
            raise InfluxUnavailable("InfluxDB at test is unreachable")
        self.opened += 1

    async def close(self) -> None:
        pass

    async def write(self, events: Sequence[Event]) -> None:
        self.calls.append([e.event_id for e in events])
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.broken is not None:
            raise self.broken
        if self.unavailable:
            self.unavailable -= 1
            raise InfluxUnavailable(
                "InfluxDB could not write (503): down",
                influx_status=503,
                retry_after_seconds=self.retry_after_seconds,
            )
        ids = frozenset(e.event_id for e in events)
        if self.max_batch is not None and len(events) > self.max_batch:
            raise InfluxWriteRejected(
                "request entity too large", influx_status=413, rejected_event_ids=ids
            )
        for event in events:
            if event.event_id in self.refused:
                raise InvalidEvent(f"event {event.event_id!r}: cannot be written", key="x")
        bad = frozenset(e.event_id for e in events if e.event_id in self.rejected)
        for event in events:
            if event.event_id not in bad:
                key = (event.measurement, frozenset(event.tags.items()), event.time_ns)
                point = self.points.setdefault(key, {})
                point.update(event.fields)
                point["event_id"] = event.event_id
        if bad:
            reason = self.rejected[min(bad)]
            raise InfluxWriteRejected(
                f"partial write: {reason} dropped={len(bad)}",
                influx_status=400,
                dropped=len(bad),
                rejected_event_ids=bad if self.report_rejected_ids else None,
            )

    async def get(self, event_id: str) -> Event | None:
        for event in self.events():
            if event.event_id == event_id:
                return event
        return None

    async def query(self, query: EventQuery) -> EventPage:
        chosen = sorted(
            (
                e
                for e in self.events()
                if query.since_ns <= e.time_ns < query.until_ns
                and (query.after is None or (e.time_ns, e.event_id) > query.after)
                and (query.measurement is None or e.measurement == query.measurement)
                and (query.event is None or e.tags.get("event") == query.event)
                and (query.uid is None or e.fields.get("uid") == query.uid)
            ),
            key=lambda e: (e.time_ns, e.event_id),
        )
        page = chosen[: query.limit]
        more = len(chosen) > query.limit
        return EventPage(page, (page[-1].time_ns, page[-1].event_id) if more else None)

    async def health(self) -> StoreHealth:
        return StoreHealth(self.backend_name, ok=not self.unavailable, detail="fake")

    # -- inspection --

    def events(self) -> Iterator[Event]:
        for (measurement, tags, time_ns), point in self.points.items():
            fields = {k: v for k, v in point.items() if k != "event_id"}
            yield Event(
                event_id=str(point["event_id"]),
                measurement=measurement,
                time_ns=time_ns,
                tags=dict(tags),
                fields=fields,
            )

    def stored_ids(self) -> list[str]:
        return sorted(str(point["event_id"]) for point in self.points.values())


@pytest.fixture
def backend() -> InfluxLikeBackend:
    return InfluxLikeBackend()


@pytest.fixture
def outbox_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "outbox.sqlite3"


@pytest.fixture
def make_outbox(outbox_path: Path, vtime: VirtualTime) -> Iterator[Callable[..., Outbox]]:
    """Open outboxes on the test's file (closed at teardown); options pass through."""
    opened: list[Outbox] = []

    def build(**options: object) -> Outbox:
        options.setdefault("clock_ns", vtime.wall_ns)
        outbox = Outbox(outbox_path, **options)  # type: ignore[arg-type]
        outbox.open()
        opened.append(outbox)
        return outbox

    yield build
    for outbox in opened:
        outbox.close()
