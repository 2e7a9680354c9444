"""When checks run: an asyncio scheduler with an injected clock.

Why not APScheduler: it would give interval triggers with jitter and
"max instances", but not a clock tests can advance without sleeping, nor the
lateness figures and the one-loop graceful stop we need; its 3.x asyncio
executor also runs jobs as bare tasks with no global limit we could await.
What is needed here fits in this module.

Rules:

- A monitor's first run is at a random offset within its interval (jitter), so
  monitors created together do not fire together.
- Runs are due at ``first + k * interval``: the next due time is computed from
  the previous *due* time, not from when a run finished, so intervals do not
  drift. Due times that passed while a run was still going (or the process was
  stalled) are skipped, not bunched up.
- A monitor never runs twice at once: a run that is due while the previous one
  is still going is skipped (and counted).
- At most ``max_concurrency`` runs happen at once, across all monitors.
- ``stop()`` stops scheduling and waits (up to a time limit) for runs in flight.

The clock is a :class:`Clock`: ``now()`` in seconds and ``sleep_until``. Tests
use :class:`ManualClock` and advance it; nothing sleeps for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Clock", "ManualClock", "Scheduler", "SchedulerStats", "SystemClock"]

_log = logging.getLogger(__name__)

RunCheck = Callable[[str], Awaitable[None]]


class Clock(Protocol):
    """Time for the scheduler."""

    def now(self) -> float:
        """Seconds (Unix time for the real clock)."""

    async def sleep_until(self, deadline: float | None, wake: asyncio.Event) -> None:
        """Return at ``deadline`` (never when ``None``) or as soon as ``wake`` is set."""


class SystemClock:
    """The real clock: ``time.time`` and asyncio's timers."""

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, deadline: float | None, wake: asyncio.Event) -> None:
        timeout = None if deadline is None else max(0.0, deadline - time.time())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout)


class ManualClock:
    """A clock that moves only when told to: ``await advance(seconds)``."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._now

    async def sleep_until(self, deadline: float | None, wake: asyncio.Event) -> None:
        if deadline is not None and deadline <= self._now:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if deadline is not None:
            self._sleepers.append((deadline, future))
        waiter: asyncio.Future[Any] = asyncio.ensure_future(wake.wait())
        try:
            pending: set[asyncio.Future[Any]] = {future, waiter}
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            self._sleepers = [(d, f) for d, f in self._sleepers if f is not future]

    async def advance(self, seconds: float, *, step: float = 0.5) -> None:
        """Move time forward in steps, letting woken tasks run after each."""
        target = self._now + seconds
        while self._now < target:
            self._now = min(target, self._now + step)
            for deadline, future in list(self._sleepers):
                if deadline <= self._now and not future.done():
                    future.set_result(None)
            await settle()


async def settle(rounds: int = 20) -> None:
    """Let every ready task run until the loop is quiet (tests with a manual clock)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


@dataclass(slots=True)
class SchedulerStats:
    """What the scheduler did: runs started, overlaps skipped, slots missed, lateness."""

    started: int = 0
    skipped_overlap: int = 0
    missed_slots: int = 0
    lateness_seconds: list[float] = field(default_factory=list)
    max_lateness_samples: int = 100_000

    def late(self, seconds: float) -> None:
        """Record how late one run started."""
        if len(self.lateness_seconds) < self.max_lateness_samples:
            self.lateness_seconds.append(seconds)


@dataclass(slots=True)
class _Entry:
    interval: float
    due: float
    generation: int


class Scheduler:
    """Runs ``run_check(monitor_id)`` for every scheduled monitor, on time."""

    def __init__(
        self,
        run_check: RunCheck,
        *,
        clock: Clock | None = None,
        max_concurrency: int = 100,
        rng: random.Random | None = None,
    ) -> None:
        self._run_check = run_check
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._limit = asyncio.Semaphore(max_concurrency)
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter, not security
        self._entries: dict[str, _Entry] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._running: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._generation = 0
        self.stats = SchedulerStats()

    @property
    def scheduled(self) -> frozenset[str]:
        """The ids of the monitors that are scheduled."""
        return frozenset(self._entries)

    def running(self, monitor_id: str) -> bool:
        """Whether a run of this monitor is in flight."""
        return monitor_id in self._running

    def next_due(self, monitor_id: str) -> float | None:
        """When this monitor runs next (``None`` if it is not scheduled)."""
        entry = self._entries.get(monitor_id)
        return None if entry is None else entry.due

    def schedule(self, monitor_id: str, interval_seconds: float) -> None:
        """Start running a monitor (jittered first run), or change its interval."""
        entry = self._entries.get(monitor_id)
        if entry is not None and entry.interval == interval_seconds:
            return
        self._generation += 1
        due = self._clock.now() + self._rng.uniform(0, interval_seconds)
        if entry is not None:
            due = min(due, entry.due)
        self._entries[monitor_id] = _Entry(interval_seconds, due, self._generation)
        heapq.heappush(self._heap, (due, self._generation, monitor_id))
        self._wake.set()

    def unschedule(self, monitor_id: str) -> None:
        """Stop running a monitor; a run in flight finishes."""
        if self._entries.pop(monitor_id, None) is not None:
            self._wake.set()

    def start(self) -> None:
        """Start the scheduling loop (call from a running event loop)."""
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._loop(), name="monitor-scheduler")

    async def stop(self, timeout_seconds: float = 10.0) -> bool:
        """Stop scheduling; wait for runs in flight. False if some did not finish in time."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await self._loop_task
            self._loop_task = None
        pending = list(self._running.values())
        if not pending:
            return True
        _, late = await asyncio.wait(pending, timeout=timeout_seconds)
        for task in late:
            task.cancel()
        return not late

    async def _loop(self) -> None:
        while not self._stopping:
            now = self._clock.now()
            self._fire_due(now)
            deadline = self._heap[0][0] if self._heap else None
            self._wake.clear()
            if self._stopped():
                break
            await self._clock.sleep_until(deadline, self._wake)

    def _stopped(self) -> bool:
        return self._stopping

    def _fire_due(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            due, generation, monitor_id = heapq.heappop(self._heap)
            entry = self._entries.get(monitor_id)
            if entry is None or entry.generation != generation:
                continue  # unscheduled or rescheduled: a stale heap item
            if monitor_id in self._running:
                self.stats.skipped_overlap += 1
            else:
                task = asyncio.create_task(self._run(monitor_id, due), name=f"check-{monitor_id}")
                self._running[monitor_id] = task
            missed = int((now - due) // entry.interval)
            self.stats.missed_slots += missed
            entry.due = due + (missed + 1) * entry.interval
            heapq.heappush(self._heap, (entry.due, generation, monitor_id))

    async def _run(self, monitor_id: str, due: float) -> None:
        try:
            async with self._limit:
                self.stats.started += 1
                self.stats.late(max(0.0, self._clock.now() - due))
                await self._run_check(monitor_id)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one failing check must not stop the scheduler
            _log.exception("the check of monitor %s failed", monitor_id)
        finally:
            self._running.pop(monitor_id, None)
