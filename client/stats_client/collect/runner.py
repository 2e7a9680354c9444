"""The scheduler: polls each source on its interval, with jitter, backing off when it fails.

One poll publishes everywhere at once: the snapshot (what ``/metrics``
serves), the events (through an :class:`~stats_client.collect.events.EventSink`)
and the delta state. A source that fails keeps its last snapshot and waits
longer before the next try (doubling per consecutive failure, capped, with
jitter); its problems never reach another source. Clocks, randomness and
waiting are passed in, so tests drive the schedule without sleeping.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from stats_client.collect import instants
from stats_client.collect.delta import DeltaTracker
from stats_client.collect.errors import PollError, Reason
from stats_client.collect.events import EventSink, delta_events, reading_events, window_events
from stats_client.collect.model import MetricDef
from stats_client.collect.selfmetrics import SelfMetrics
from stats_client.collect.snapshot import SnapshotStore
from stats_client.collect.sources import Source
from stats_client.collect.windows import WindowBook

__all__ = ["PollOutcome", "Runner"]

logger = logging.getLogger("stats_client.collect")


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """How one poll went."""

    source: str
    errors: tuple[PollError, ...]
    failed: bool
    """Nothing could be read: the schedule backs off."""

    @property
    def ok(self) -> bool:
        """No problem at all."""
        return not self.errors


@dataclass
class _Slot:
    source: Source
    next_due: float = 0.0
    failures: int = 0
    in_flight: bool = False


class Runner:
    """Hosts many sources; ``tick`` (tests, ``--once``) or ``run`` (threads) drive it."""

    def __init__(
        self,
        sources: Sequence[Source],
        *,
        snapshot: SnapshotStore,
        self_metrics: SelfMetrics,
        deltas: DeltaTracker,
        windows: WindowBook,
        sink: EventSink | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], dt.datetime] = instants.now,
        rng: random.Random | None = None,
        max_backoff_seconds: float = 600.0,
        ship_timeout_seconds: float = 10.0,
        max_workers: int = 8,
    ) -> None:
        self.snapshot = snapshot
        self.self_metrics = self_metrics
        self.deltas = deltas
        self.windows = windows
        self.sink = sink
        self._monotonic = monotonic
        self._wall = wall
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._max_backoff = max_backoff_seconds
        self._ship_timeout = ship_timeout_seconds
        self._max_workers = max_workers
        self._lock = threading.Lock()
        now = monotonic()
        self._slots = [
            _Slot(s, now + self._rng.uniform(0, s.jitter_ratio * s.interval_seconds))
            for s in sources
        ]
        self_metrics.start([s.name for s in sources])

    @property
    def sources(self) -> list[Source]:
        """The hosted sources."""
        return [slot.source for slot in self._slots]

    # -- one poll ---------------------------------------------------------------------------

    def poll(self, source: Source) -> PollOutcome:
        """Poll ``source`` once and publish the result; never raises."""
        started = self._monotonic()
        when = self._wall()
        result = source.poll()
        errors = list(result.errors)
        if not result.failed:
            self.snapshot.update(source.name, result.readings)
            events = []
            moved = False
            for reading in result.readings:
                if reading.metric.delta:
                    deltas = self.deltas.deltas(source.name, reading)
                    events.extend(delta_events(source.name, reading, deltas, when))
                    moved = True
                elif self.sink is not None:
                    events.extend(reading_events(source.name, reading, when))
            if self.sink is not None and events:
                self.sink.send(events)
            if moved:
                self.deltas.commit()
        for metric in source.windowed():
            errors.extend(self._poll_windows(source, metric, when))
        self.self_metrics.record(
            source.name,
            errors=errors,
            failed=result.failed,
            duration_seconds=max(self._monotonic() - started, 0.0),
            wall_time=when.timestamp(),
        )
        return PollOutcome(source.name, tuple(errors), result.failed)

    def _poll_windows(
        self, source: Source, metric: MetricDef, when: dt.datetime
    ) -> list[PollError]:
        until = when.replace(microsecond=0)
        first = dt.timedelta(seconds=source.interval_seconds)
        for since, end in self.windows.due(source.name, metric.name, until, first):
            try:
                reading = source.poll_window(metric.name, since, end)
            except PollError as exc:
                return [exc]
            self.snapshot.update(source.name, [reading])
            if self.sink is not None:
                self.sink.send(window_events(source.name, reading, since, end))
                if not self.sink.flush(self._ship_timeout):
                    self.windows.hold(source.name, metric.name, end)
                    self.deltas.commit()
                    return [
                        PollError(
                            Reason.SHIP_FAILED,
                            f"{source.name}.{metric.name}: window {instants.iso(since)} .. "
                            f"{instants.iso(end)} not shipped; it will be retried",
                        )
                    ]
            self.windows.advance(source.name, metric.name, end)
            self.deltas.commit()
        return []

    def poll_all(self) -> list[PollOutcome]:
        """Poll every source once, in order (``--once``)."""
        return [self.poll(slot.source) for slot in self._slots]

    # -- the schedule -----------------------------------------------------------------------

    def next_delay(self, source: Source, failures: int) -> float:
        """Seconds until the next poll after ``failures`` consecutive failed polls."""
        interval = source.interval_seconds
        if failures == 0:
            jitter = source.jitter_ratio
            return interval * (1 + self._rng.uniform(-jitter, jitter))
        cap = max(self._max_backoff, interval)
        return min(cap, interval * 2.0 ** min(failures, 32)) * self._rng.uniform(0.5, 1.0)

    def _finish(self, slot: _Slot, outcome: PollOutcome) -> None:
        with self._lock:
            slot.failures = slot.failures + 1 if outcome.failed else 0
            slot.next_due = self._monotonic() + self.next_delay(slot.source, slot.failures)
            slot.in_flight = False

    def due_in(self) -> float:
        """Seconds until the next idle source is due (0 when one is due now)."""
        with self._lock:
            idle = [slot.next_due for slot in self._slots if not slot.in_flight]
        if not idle:
            return 1.0
        return max(0.0, min(idle) - self._monotonic())

    def _take_due(self) -> list[_Slot]:
        now = self._monotonic()
        with self._lock:
            due = [s for s in self._slots if not s.in_flight and s.next_due <= now]
            for slot in due:
                slot.in_flight = True
        return due

    def tick(self) -> list[PollOutcome]:
        """Poll, one after another, every source that is due now; reschedule them."""
        outcomes = []
        for slot in self._take_due():
            outcome = self.poll(slot.source)
            self._finish(slot, outcome)
            outcomes.append(outcome)
        return outcomes

    def run(self, stop: threading.Event, *, max_wait_seconds: float = 1.0) -> None:
        """Poll on schedule, each source in a worker thread, until ``stop`` is set."""

        def work(slot: _Slot) -> None:
            try:
                outcome = self.poll(slot.source)
            except Exception:  # a bug must not wedge the source: log it, back off, go on
                logger.exception("polling %s failed unexpectedly", slot.source.name)
                outcome = PollOutcome(slot.source.name, (), failed=True)
            self._finish(slot, outcome)

        workers = max(1, min(self._max_workers, len(self._slots)))
        with ThreadPoolExecutor(workers, thread_name_prefix="stats-collect") as pool:
            while not stop.is_set():
                for slot in self._take_due():
                    pool.submit(work, slot)
                stop.wait(min(max(self.due_in(), 0.01), max_wait_seconds))
