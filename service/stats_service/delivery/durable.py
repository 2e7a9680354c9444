"""``DurableStore``: a backend behind a durable queue and a forwarder.

``write`` returns once the events are committed to the queue (the SQLite
outbox: WAL, group commit): that commit is what a 2xx promises. The
forwarder task then delivers them to the backend (InfluxDB) in batches,
retrying while it is unavailable and dead-lettering the points it refuses. Reads see both places:
``get`` looks in the outbox first, then the backend; ``query`` merges the
pending events of the window with the backend's page.

The store opens and accepts events while the backend is down. When the
outbox reaches its bound (pending events or bytes), ``write`` raises
:class:`~stats_service.delivery.queue.OutboxFull`, a ``ServiceUnavailable``
(503) whose ``Retry-After`` estimates when room will be free.

See :mod:`stats_service.delivery.outbox` for idempotency (``event_id`` is
remembered for the dedupe window) and for how two events that share series
and timestamp are both kept (the later one's time moves by a nanosecond).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
import random as random_module
import time
from collections.abc import Awaitable, Callable, Sequence

from stats_service.delivery.config import DeliveryConfig
from stats_service.delivery.forwarder import Forwarder, ForwarderMetrics
from stats_service.delivery.lease import ForwardingLease
from stats_service.delivery.partial import PartialPosition, WindowAnswer, read_window
from stats_service.delivery.queue import (
    DeadLetter,
    DurableQueue,
    OutboxFull,
    OutboxStatus,
    ProbedQueue,
    append_encoded,
)
from stats_service.errors import ServiceUnavailable
from stats_service.events.model import Event
from stats_service.storage.base import EventPage, EventQuery, EventStore, StoreHealth
from stats_service.storage.influx.stored import EncodedEvent

__all__ = ["DurableStore"]

_log = logging.getLogger(__name__)

_MAX_RETRY_AFTER_SECONDS = 60
_IDLE_RETRY_AFTER_SECONDS = 5


def _merge(first: EventPage, second: EventPage, limit: int) -> EventPage:
    """One page from two pages of the same query, de-duplicated by ``event_id``."""
    seen: set[str] = set()
    events: list[Event] = []
    for event in heapq.merge(first.events, second.events, key=lambda e: (e.time_ns, e.event_id)):
        if event.event_id not in seen:
            seen.add(event.event_id)
            events.append(event)
    more = len(events) > limit or first.next_after is not None or second.next_after is not None
    del events[limit:]
    if not more or not events:
        return EventPage(events=events, next_after=None)
    return EventPage(events=events, next_after=(events[-1].time_ns, events[-1].event_id))


class DurableStore:
    """An ``EventStore`` that commits to ``queue`` and forwards to ``backend``.

    Both are started and stopped by this store. ``metrics`` receives the
    forwarder's counts; ``lease`` defaults to the queue's forwarding lease.
    Clocks, sleep and randomness are injectable for tests.
    """

    def __init__(
        self,
        backend: EventStore,
        queue: DurableQueue,
        *,
        config: DeliveryConfig | None = None,
        backend_name: str | None = None,
        metrics: ForwarderMetrics | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        random: Callable[[], float] = random_module.random,
        lease: ForwardingLease | None = None,
    ) -> None:
        self._backend = backend
        self._config = config or DeliveryConfig()
        self._backend_name = backend_name or str(
            getattr(backend, "backend_name", type(backend).__name__)
        )
        self._queue = queue
        self._metrics = metrics
        self._monotonic = monotonic
        self._sleep = sleep
        self._random = random
        self._lease = lease if lease is not None else queue.forwarding_lease()
        self._started: DurableQueue | None = None  # the queue, while it is started
        self._forwarder: Forwarder | None = None
        self._standby: asyncio.Task[None] | None = None
        self._backend_open = False
        self._lifecycle = asyncio.Lock()

    @property
    def backend(self) -> EventStore:
        """The store events are forwarded to."""
        return self._backend

    @property
    def backend_name(self) -> str:
        """The backend's name (``influxdb``...), for health and status."""
        return self._backend_name

    @property
    def config(self) -> DeliveryConfig:
        """The delivery configuration."""
        return self._config

    @property
    def queue(self) -> DurableQueue:
        """The started queue."""
        if self._started is None:
            raise ServiceUnavailable("the durable store is not open")
        return self._started

    @property
    def forwarder(self) -> Forwarder:
        """The running forwarder (this process forwards: see :attr:`forwarding`)."""
        if self._forwarder is None:
            raise ServiceUnavailable("this process does not forward the outbox")
        return self._forwarder

    async def open(self) -> None:
        """Open the outbox, then the backend (tolerating its absence), then forward.

        This process forwards only while it holds the outbox's forwarding lease
        (:mod:`~stats_service.delivery.lease`): of several worker processes on
        one data directory, one forwards and the others stand by, trying for
        the lease every poll interval, so one of them takes over when the
        forwarding process ends. Every process accepts events and reads.
        """
        async with self._lifecycle:
            if self._started is not None:
                return
            outbox = self._queue
            await outbox.start()
            self._backend_open = await self._open_backend()
            self._started = outbox
            try:
                leading = await self._lead()
            except BaseException:
                self._started = None
                await outbox.stop(self._config.close_timeout_seconds)
                raise
            if not leading:
                _log.info("another process forwards the outbox; this one stands by")
                self._standby = asyncio.create_task(self._stand_by(), name="stats-forward-standby")

    async def _lead(self) -> bool:
        """Start forwarding if the lease can be had now; whether this process forwards."""
        outbox = self.queue
        if not self._lease.try_acquire():
            return False
        try:
            backlog = (await outbox.status()).pending_events
        except BaseException:
            self._lease.release()
            raise
        forwarder = Forwarder(
            outbox,
            self._backend,
            config=self._config,
            backend_open=self._backend_open,
            metrics=self._metrics,
            monotonic=self._monotonic,
            sleep=self._sleep,
            random=self._random,
        )
        forwarder.start(pending_events=backlog)
        self._forwarder = forwarder
        if backlog:
            _log.info("the outbox holds %d pending events; forwarding them", backlog)
        return True

    async def _stand_by(self) -> None:
        """Try for the lease every poll interval until this process forwards."""
        while True:
            await self._sleep(self._config.poll_interval_seconds)
            try:
                if await self._lead():
                    _log.info("this process now forwards the outbox")
                    return
            except Exception:  # noqa: BLE001 -- logged; tried again next interval
                _log.warning("taking over forwarding failed; trying again", exc_info=True)

    @property
    def forwarding(self) -> bool:
        """Whether this process forwards the outbox (holds the forwarding lease)."""
        return self._forwarder is not None

    async def close(self) -> None:
        """Stop forwarding (the batch in flight finishes), then close the outbox and backend."""
        async with self._lifecycle:
            outbox, forwarder, standby = self._started, self._forwarder, self._standby
            self._started = self._forwarder = self._standby = None
            if standby is not None:
                standby.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await standby
            if forwarder is not None:
                await forwarder.stop()
            self._lease.release()
            if outbox is not None:
                drained = await outbox.stop(self._config.close_timeout_seconds)
                if not drained:
                    _log.warning("the outbox writer did not finish in time; it finishes alone")
                try:
                    await self._backend.close()
                except Exception:  # noqa: BLE001 -- nothing is buffered there; log and go on
                    _log.warning("closing the %s backend failed", self._backend_name, exc_info=True)

    async def write(self, events: Sequence[Event]) -> None:
        """Commit ``events`` to the outbox; returns once they are durable.

        Known ids are skipped. Raises ``OutboxFull`` (503 with ``Retry-After``)
        when they do not fit, ``InvalidEvent`` for a non-finite field.
        """
        outbox = self.queue
        try:
            appended = await outbox.append(events)
        except OutboxFull as exc:
            retry_after = await self._retry_after(len(events))
            raise OutboxFull(exc.message, retry_after_seconds=retry_after) from None
        if appended.inserted and self._forwarder is not None:
            self._forwarder.notify(appended.pending_events)

    async def write_lines(self, events: Sequence[EncodedEvent]) -> None:
        """:meth:`write` of events already encoded as their lines (a
        :class:`~stats_service.storage.influx.stored.LineWriter`); a queue that
        does not take lines gets the decoded events."""
        try:
            appended = await append_encoded(self.queue, events)
        except OutboxFull as exc:
            retry_after = await self._retry_after(len(events))
            raise OutboxFull(exc.message, retry_after_seconds=retry_after) from None
        if appended.inserted and self._forwarder is not None:
            self._forwarder.notify(appended.pending_events)

    async def get(self, event_id: str) -> Event | None:
        """The event with this id, pending in the outbox or stored in the backend."""
        pending = await self.queue.get_pending(event_id)
        if pending is not None:
            return pending
        # Read after the outbox: an event forwarded in between is in the backend by now.
        return await self._backend.get(event_id)

    async def query(self, query: EventQuery) -> EventPage:
        """The window's events from outbox and backend, merged by ``(time_ns, event_id)``."""
        if query.limit < 1:
            raise ValueError("query limit must be at least 1")
        pending = await self.queue.query_pending(query)
        # Read after the outbox, as in ``get``: nothing falls between the two reads.
        stored = await self._backend.query(query)
        return _merge(pending, stored, query.limit)

    async def read_window(
        self, query: EventQuery, position: PartialPosition | None = None
    ) -> WindowAnswer:
        """:meth:`query`, but partial (the pending events) while the backend is down;
        ``position`` resumes partial pages (see :mod:`~stats_service.delivery.partial`)."""
        return await read_window(self.queue, self._backend, query, position)

    async def health(self) -> StoreHealth:
        """Ok while writes can be taken: the outbox is writable and the backend
        reachable, or the backlog under its bounds. The detail says which."""
        outbox = self._started
        if outbox is None or not outbox.writable:
            return StoreHealth(self._backend_name, ok=False, detail="the outbox is not open")
        if isinstance(outbox, ProbedQueue) and (trouble := await outbox.probe()) is not None:
            return StoreHealth(self._backend_name, ok=False, detail=trouble)
        try:
            backend = await self._backend.health()
        except Exception as exc:  # noqa: BLE001 -- a failing probe is an answer
            backend = StoreHealth(self._backend_name, ok=False, detail=f"health check: {exc}")
        status = await self.status(backend_ok=backend.ok)
        age = status.oldest_pending_age_seconds
        detail = (
            f"{backend.detail}; outbox {status.state}: {status.pending_events} pending"
            f"{'' if age is None else f' (oldest {age:.1f} s)'}, {status.dead_letters} dead letters"
        )
        return StoreHealth(backend.backend, ok=status.ready, detail=detail)

    async def status(self, *, backend_ok: bool | None = None) -> OutboxStatus:
        """Backlog, age, forward rate, dead letters, last error and state; no network call.

        ``backend_ok`` overrides the forwarder's last known contact with the backend.
        """
        outbox = self.queue
        forwarder = self._forwarder
        if backend_ok is None and forwarder is not None:
            backend_ok = forwarder.backend_ok
        return await outbox.status(backend=self._backend_name, backend_ok=backend_ok)

    def status_sync(self) -> OutboxStatus | None:
        """:meth:`status` without awaiting (a quick read on the calling thread), for
        scrape-time metrics; None when the store is not open."""
        outbox, forwarder = self._started, self._forwarder
        if outbox is None:
            return None
        backend_ok = forwarder.backend_ok if forwarder is not None else None
        return outbox.status_sync(backend=self._backend_name, backend_ok=backend_ok)

    async def deadletters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` dead-lettered events with InfluxDB's reasons."""
        return await self.queue.deadletters(limit)

    async def replay_deadletters(self, event_ids: Sequence[str] | None = None) -> int:
        """Queue dead letters for delivery again (all when ``event_ids`` is None); how many."""
        replayed = await self.queue.replay(event_ids)
        if replayed and self._forwarder is not None:
            self._forwarder.notify((await self.queue.status()).pending_events)
        return replayed

    async def _open_backend(self) -> bool:
        try:
            await self._backend.open()
        except Exception:  # noqa: BLE001 -- accept events anyway; the forwarder retries
            _log.warning(
                "the %s backend could not be opened; events are kept in the outbox",
                self._backend_name,
                exc_info=True,
            )
            return False
        return True

    async def _retry_after(self, events: int) -> int:
        """Seconds until ``events`` more are likely to fit, from the recent forward rate."""
        try:
            status = await self.queue.status()
        except Exception:  # noqa: BLE001 -- an estimate only
            return _IDLE_RETRY_AFTER_SECONDS
        rate = status.forward_rate_events_per_second
        forwarder = self._forwarder
        if rate <= 0 or (forwarder is not None and forwarder.retrying):
            wait = forwarder.next_retry_seconds if forwarder is not None else 0.0
            return max(_IDLE_RETRY_AFTER_SECONDS, min(_MAX_RETRY_AFTER_SECONDS, math.ceil(wait)))
        return max(1, min(_MAX_RETRY_AFTER_SECONDS, math.ceil(events / rate)))
