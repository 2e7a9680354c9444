"""DurableStore: outbox + forwarder + backend behave as one EventStore that never loses
an acknowledged event.

The backend is an in-memory InfluxDB look-alike: one point per series and
timestamp (a second write to it overwrites), scripted outages and
rejections, and a gate that holds writes in flight. Time is virtual.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

from stats_service.delivery.backoff import Backoff
from stats_service.delivery.config import DeliveryConfig
from stats_service.delivery.durable import DurableStore
from stats_service.delivery.lease import ForwardingLease, MemoryLeases
from stats_service.delivery.outbox import Outbox
from stats_service.delivery.queue import OutboxFull
from stats_service.errors import ServiceUnavailable
from stats_service.events.model import Event, FieldValue
from stats_service.storage.base import EventPage, EventQuery, StoreHealth
from stats_service.storage.influx.errors import InfluxUnavailable, InfluxWriteRejected

T = TypeVar("T")
T0 = 1_700_000_000_000_000_000
ALL = EventQuery(since_ns=0, until_ns=2**62, limit=1000)


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), 20)

    return asyncio.run(bounded())


class VirtualTime:
    """``monotonic``, ``wall_ns`` and ``sleep`` that move only when advanced."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self.now

    def wall_ns(self) -> int:
        return T0 + int(self.now * 1e9)

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), future))
        await future

    def advance(self, seconds: float) -> None:
        self.now += seconds
        while self._sleepers and self._sleepers[0][0] <= self.now:
            future = heapq.heappop(self._sleepers)[2]
            if not future.done():
                future.set_result(None)


class InfluxLike:
    """Stores points keyed by (measurement, tags, time) like InfluxDB; scripted failures."""

    backend_name = "influx-like"

    def __init__(self) -> None:
        self.points: dict[tuple[str, frozenset[tuple[str, str]], int], dict[str, FieldValue]] = {}
        self.unavailable = 0
        self.open_failures = 0
        self.rejected: dict[str, str] = {}
        self.gate: asyncio.Event | None = None
        self.writes = 0

    async def open(self) -> None:
        if self.open_failures:
            self.open_failures -= 1
            raise InfluxUnavailable("InfluxDB is unreachable")

    async def close(self) -> None:
        pass

    async def write(self, events: Sequence[Event]) -> None:
        self.writes += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.unavailable:
            self.unavailable -= 1
            raise InfluxUnavailable("InfluxDB could not write (503)", influx_status=503)
        bad = frozenset(e.event_id for e in events if e.event_id in self.rejected)
        for event in events:
            if event.event_id not in bad:
                key = (event.measurement, frozenset(event.tags.items()), event.time_ns)
                self.points.setdefault(key, {}).update(event.fields, event_id=event.event_id)
        if bad:
            raise InfluxWriteRejected(
                f"partial write: {self.rejected[min(bad)]} dropped={len(bad)}",
                influx_status=400,
                rejected_event_ids=bad,
            )

    def events(self) -> Iterator[Event]:
        for (measurement, tags, time_ns), point in self.points.items():
            yield Event(
                event_id=str(point["event_id"]),
                measurement=measurement,
                time_ns=time_ns,
                tags=dict(tags),
                fields={k: v for k, v in point.items() if k != "event_id"},
            )

    def ids(self) -> list[str]:
        return sorted(e.event_id for e in self.events())

    async def get(self, event_id: str) -> Event | None:
        return next((e for e in self.events() if e.event_id == event_id), None)

    async def query(self, query: EventQuery) -> EventPage:
        chosen = sorted(
            (
                e
                for e in self.events()
                if query.since_ns <= e.time_ns < query.until_ns
                and (query.after is None or (e.time_ns, e.event_id) > query.after)
                and (query.event is None or e.tags.get("event") == query.event)
            ),
            key=lambda e: (e.time_ns, e.event_id),
        )
        page = chosen[: query.limit]
        more = len(chosen) > query.limit
        return EventPage(page, (page[-1].time_ns, page[-1].event_id) if more else None)

    async def health(self) -> StoreHealth:
        return StoreHealth(self.backend_name, ok=not self.unavailable, detail="fake influx")


@pytest.fixture
def backend() -> InfluxLike:
    return InfluxLike()


@pytest.fixture
def vtime() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
def outbox_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "outbox.sqlite3"


@pytest.fixture
def make_store(backend, vtime, outbox_path) -> Callable[..., DurableStore]:
    def build(
        lease: ForwardingLease | None = None,
        max_pending_events: int = 1_000_000,
        **changes: object,
    ) -> DurableStore:
        values: dict[str, object] = {
            "linger_seconds": 0.0,
            "poll_interval_seconds": 1.0,
            "backoff": Backoff(initial_seconds=0.5, max_seconds=2.0),
        }
        values.update(changes)
        return DurableStore(
            backend,
            Outbox(outbox_path, max_pending_events=max_pending_events, clock_ns=vtime.wall_ns),
            config=DeliveryConfig(**values),  # type: ignore[arg-type]
            monotonic=vtime.monotonic,
            sleep=vtime.sleep,
            random=lambda: 0.0,
            lease=lease,
        )

    return build


async def settled(store: DurableStore, vtime: VirtualTime) -> None:
    """Advance virtual time until nothing is pending (bounded by the scenario timeout)."""
    while (await store.status()).pending_events:
        vtime.advance(0.5)
        await asyncio.sleep(0.001)


async def all_pages(store: DurableStore, query: EventQuery) -> list[EventPage]:
    pages = [await store.query(query)]
    while pages[-1].next_after is not None:
        pages.append(
            await store.query(
                EventQuery(query.since_ns, query.until_ns, query.limit, after=pages[-1].next_after)
            )
        )
        assert len(pages) < 1000
    return pages


# -- read your writes ---------------------------------------------------------------------


def test_a_written_event_is_readable_before_and_after_forwarding(
    make_store, backend, make_event, vtime
):
    event = make_event("e1", fields={"n": 1})
    backend.gate = asyncio.Event()

    async def scenario():
        store = make_store()
        await store.open()
        try:
            await store.write([event])
            before = await store.get("e1"), await store.query(ALL), backend.ids()
            backend.gate.set()
            await settled(store, vtime)
            after = await store.get("e1"), await store.query(ALL), backend.ids()
            return before, after
        finally:
            await store.close()

    (got, page, stored), (got_after, page_after, stored_after) = run(scenario)
    assert got == event
    assert page.events == [event]
    assert stored == []
    assert got_after == event
    assert page_after.events == [event]
    assert stored_after == ["e1"]


def test_queries_merge_pending_and_stored_events_without_repeats(
    make_store, backend, make_event, vtime
):
    forwarded = [make_event(f"f{i}", time_ns=T0 + 2 * i) for i in range(5)]
    pending = [make_event(f"p{i}", time_ns=T0 + 2 * i + 1, event="login") for i in range(5)]

    async def scenario():
        store = make_store()
        await store.open()
        try:
            await store.write(forwarded)
            await settled(store, vtime)
            backend.gate = asyncio.Event()  # later writes stay pending
            await store.write(pending)
            # One event both pending and already in the backend (written, not yet marked).
            key = (pending[0].measurement, frozenset(pending[0].tags.items()), pending[0].time_ns)
            backend.points[key] = {**pending[0].fields, "event_id": pending[0].event_id}
            pages = await all_pages(store, EventQuery(since_ns=T0, until_ns=T0 + 100, limit=3))
            filtered = await store.query(
                EventQuery(since_ns=T0, until_ns=T0 + 100, limit=100, event="login")
            )
            backend.gate.set()
            return pages, filtered
        finally:
            await store.close()

    pages, filtered = run(scenario)
    seen = [e.event_id for page in pages for e in page.events]
    assert seen == [f"{kind}{i}" for i in range(5) for kind in ("f", "p")]
    assert [len(page.events) for page in pages] == [3, 3, 3, 1]
    assert pages[-1].next_after is None
    assert [e.event_id for e in filtered.events] == [f"p{i}" for i in range(5)]


def test_get_of_an_unknown_id_is_none(make_store, make_event):
    async def scenario():
        store = make_store()
        await store.open()
        try:
            await store.write([make_event("known")])
            return await store.get("unknown")
        finally:
            await store.close()

    assert run(scenario) is None


# -- idempotency and unique timestamps ---------------------------------------------------


def test_a_retried_event_is_stored_once_with_its_first_version(
    make_store, backend, make_event, vtime
):
    first = make_event("dup", fields={"version": 1})
    retry = make_event("dup", fields={"version": 2})

    async def scenario():
        store = make_store()
        await store.open()
        try:
            await store.write([first])
            await store.write([retry])  # while pending
            await settled(store, vtime)
            await store.write([retry])  # after forwarding
            await settled(store, vtime)
            return await store.get("dup")
        finally:
            await store.close()

    assert run(scenario) == first
    assert backend.ids() == ["dup"]


def test_distinct_events_sharing_series_and_time_are_all_stored(
    make_store, backend, make_event, vtime
):
    same = [make_event(f"s{i}", time_ns=T0, uid=f"user-{i}") for i in range(3)]
    later = make_event("later", time_ns=T0, uid="user-9")

    async def scenario():
        store = make_store()
        await store.open()
        try:
            await store.write(same)
            await settled(store, vtime)
            await store.write([later, same[1]])  # a new one at the taken time, and a retry
            await settled(store, vtime)
            return [await store.get(e.event_id) for e in [*same, later]]
        finally:
            await store.close()

    found = run(scenario)
    assert backend.ids() == ["later", "s0", "s1", "s2"]
    assert [e.time_ns for e in found] == [T0, T0 + 1, T0 + 2, T0 + 3]
    assert [e.fields["uid"] for e in found] == ["user-0", "user-1", "user-2", "user-9"]


# -- bounds and backpressure ----------------------------------------------------------------


def test_a_full_outbox_refuses_with_503_and_retry_after(make_store, backend, make_event, vtime):
    backend.unavailable = 1_000_000

    async def scenario():
        store = make_store(max_pending_events=3)
        await store.open()
        try:
            await store.write([make_event(f"a{i}", time_ns=T0 + i) for i in range(3)])
            with pytest.raises(ServiceUnavailable) as caught:
                await store.write([make_event("refused", time_ns=T0 + 9)])
            status = await store.status()
            health = await store.health()
            backend.unavailable = 0
            await settled(store, vtime)
            return caught.value, status, health, await store.get("refused")
        finally:
            await store.close()

    error, status, health, refused = run(scenario)
    assert isinstance(error, OutboxFull)
    assert error.status_code == 503
    assert 1 <= error.retry_after_seconds <= 60
    assert error.headers() == {"Retry-After": str(error.retry_after_seconds)}
    assert status.state == "full"
    assert health.ok is False  # full and the backend is down: not ready
    assert refused is None
    assert backend.ids() == ["a0", "a1", "a2"]


def test_writing_before_open_or_after_close_is_unavailable(make_store, make_event):
    async def scenario():
        store = make_store()
        with pytest.raises(ServiceUnavailable):
            await store.write([make_event()])
        await store.open()
        await store.open()  # idempotent
        await store.close()
        await store.close()
        with pytest.raises(ServiceUnavailable):
            await store.write([make_event()])
        return await store.health(), store.status_sync()

    health, closed_status = run(scenario)
    assert health.ok is False
    assert closed_status is None


# -- outages, crashes, restarts -----------------------------------------------------------


def test_the_store_opens_and_accepts_while_the_backend_is_down(
    make_store, backend, make_event, vtime
):
    backend.open_failures = 3
    backend.unavailable = 2

    async def scenario():
        store = make_store()
        await store.open()
        try:
            await store.write([make_event("e1"), make_event("e2", time_ns=T0 + 1)])
            health = await store.health()
            await settled(store, vtime)
            return health, await store.status()
        finally:
            await store.close()

    health, status = run(scenario)
    assert health.ok is True  # backlog under its bound: ready
    assert "2 pending" in health.detail
    assert backend.ids() == ["e1", "e2"]
    assert status.state == "ok"
    assert status.last_error is None


def test_pending_events_survive_close_and_are_delivered_after_reopen(
    make_store, backend, make_event, vtime
):
    events = [make_event(f"e{i}", time_ns=T0 + i) for i in range(5)]
    backend.unavailable = 1_000_000

    async def first_life():
        store = make_store()
        await store.open()
        await store.write(events)
        vtime.advance(1)
        await asyncio.sleep(0.01)
        await store.close()

    async def second_life():
        backend.unavailable = 0
        store = make_store()
        await store.open()
        try:
            await settled(store, vtime)
            return await store.status()
        finally:
            await store.close()

    run(first_life)
    assert backend.ids() == []
    status = run(second_life)
    assert backend.ids() == [e.event_id for e in events]
    assert status.pending_events == 0


def test_after_a_crash_every_acknowledged_event_is_stored_exactly_once(
    make_store, backend, make_event, vtime
):
    events = [make_event(f"e{i:03d}", time_ns=T0 + i // 4) for i in range(200)]
    crashed: list[DurableStore] = []
    leases = MemoryLeases()

    async def crash():
        store = make_store(batch_max_events=16, lease=leases.lease())
        crashed.append(store)
        await store.open()
        for start in range(0, 200, 20):
            await store.write(events[start : start + 20])
            vtime.advance(0.5)
            await asyncio.sleep(0)
        # No close: asyncio.run cancels the forwarder wherever it is, as a kill would.

    async def restart():
        store = make_store(batch_max_events=16, lease=leases.lease())
        await store.open()
        try:
            await settled(store, vtime)
            return [await store.get(e.event_id) for e in events]
        finally:
            await store.close()

    try:
        run(crash)
        leases.holders.clear()  # the process died: the kernel drops its lock
        found = run(restart)
    finally:
        for store in crashed:
            store.queue.close()  # type: ignore[attr-defined]
    assert backend.ids() == sorted(e.event_id for e in events)
    assert len(backend.points) == 200
    assert [e.event_id for e in found] == [e.event_id for e in events]


# -- dead letters ---------------------------------------------------------------------------


def test_rejected_events_are_dead_lettered_counted_and_replayable(
    make_store, backend, make_event, vtime
):
    backend.rejected = {"bad": 'field type conflict: input field "n" is type string'}
    events = [
        make_event("good", fields={"n": 1}),
        make_event("bad", time_ns=T0 + 1, fields={"n": "x"}),
    ]

    async def scenario():
        store = make_store()
        await store.open()
        try:
            await store.write(events)
            while not (await store.status()).dead_letters:
                vtime.advance(0.5)
                await asyncio.sleep(0.001)
            letters = await store.deadletters()
            status = await store.status()
            backend.rejected = {}  # the operator fixed the schema
            replayed = await store.replay_deadletters()
            await settled(store, vtime)
            return letters, status, replayed, await store.status()
        finally:
            await store.close()

    letters, status, replayed, after = run(scenario)
    assert [(d.event.event_id, d.status) for d in letters] == [("bad", 400)]
    assert "field type conflict" in letters[0].reason
    assert status.dead_letters == 1
    assert replayed == 1
    assert after.dead_letters == 0
    assert backend.ids() == ["bad", "good"]


# -- status and health -----------------------------------------------------------------------


def test_status_reports_backlog_age_rate_and_backend(make_store, backend, make_event, vtime):
    backend.gate = asyncio.Event()

    async def scenario():
        store = make_store()
        await store.open()
        try:
            await store.write([make_event("a")])
            vtime.advance(4)
            waiting = await store.status()
            assert await asyncio.to_thread(store.status_sync) == waiting
            backend.gate.set()
            await settled(store, vtime)
            return waiting, await store.status(), await store.health()
        finally:
            await store.close()

    waiting, done, health = run(scenario)
    assert waiting.pending_events == 1
    assert waiting.oldest_pending_age_seconds >= 4
    assert waiting.backend == "influx-like"
    assert done.forward_rate_events_per_second == pytest.approx(1 / 60)
    assert done.backend_ok is True
    assert (done.state, done.ready) == ("ok", True)
    assert health.ok is True
    assert health.backend == "influx-like"
    assert "0 pending" in health.detail


# -- several processes on one outbox ------------------------------------------------------


def test_of_two_stores_on_one_outbox_one_forwards_and_the_other_takes_over(
    make_store, backend, make_event, vtime
):
    leases = MemoryLeases()

    async def scenario() -> tuple[tuple[bool, bool], bool, list[str]]:
        first = make_store(lease=leases.lease())
        second = make_store(lease=leases.lease())
        await first.open()
        await second.open()
        roles = (first.forwarding, second.forwarding)
        # Accepted by the process that stands by, forwarded by the one that leads.
        await second.write([make_event("via-second")])
        await settled(second, vtime)
        delivered = backend.ids()
        await first.close()  # the forwarding process ends
        vtime.advance(1.0)  # one poll interval: the other tries for the lease again
        for _ in range(100):
            if second.forwarding:
                break
            await asyncio.sleep(0.001)
        await second.write([make_event("after-takeover", time_ns=T0 + 1)])
        await settled(second, vtime)
        took_over = second.forwarding
        await second.close()
        return roles, took_over, delivered

    roles, took_over, delivered = run(scenario)
    assert roles == (True, False)
    assert delivered == ["via-second"]
    assert took_over
    assert backend.ids() == ["after-takeover", "via-second"]
    assert leases.holders == {}  # closing gives the lease up


class _BrokenLease:
    held = False

    def try_acquire(self) -> bool:
        raise PermissionError("cannot create the lease file")

    def release(self) -> None:
        pass


def test_a_lease_that_cannot_be_taken_fails_open_and_leaves_nothing_open(make_store, make_event):
    async def scenario() -> list[str]:
        broken = make_store(lease=_BrokenLease())
        with pytest.raises(PermissionError):
            await broken.open()
        with pytest.raises(ServiceUnavailable):
            _ = broken.queue
        working = make_store(lease=MemoryLeases().lease())
        await working.open()
        try:
            await working.write([make_event("after")])
            found = await working.get("after")
            return [] if found is None else [found.event_id]
        finally:
            await working.close()

    assert run(scenario) == ["after"]
