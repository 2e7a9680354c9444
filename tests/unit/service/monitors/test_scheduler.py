"""The scheduler on a manual clock: jitter, no overlap, drift correction, the limit, stop."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable

from stats_service.monitors.scheduler import ManualClock, Scheduler, settle


def run(main: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(main(), 30))


class Recorder:
    """A check that records when it started and takes ``duration`` clock seconds."""

    def __init__(self, clock: ManualClock, duration: float = 0.0) -> None:
        self.clock = clock
        self.duration = duration
        self.starts: dict[str, list[float]] = {}
        self.in_flight = 0
        self.most_in_flight = 0
        self.release = asyncio.Event()
        self.hold = False

    async def __call__(self, monitor_id: str) -> None:
        self.starts.setdefault(monitor_id, []).append(self.clock.now())
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.hold:
                await self.release.wait()
            elif self.duration:
                end = self.clock.now() + self.duration
                await self.clock.sleep_until(end, asyncio.Event())
        finally:
            self.in_flight -= 1


def test_first_runs_are_jittered_within_the_interval_then_exactly_periodic():
    async def main() -> None:
        clock = ManualClock()
        t0 = clock.now()
        check = Recorder(clock)
        scheduler = Scheduler(check, clock=clock, rng=random.Random(1))
        for i in range(20):
            scheduler.schedule(f"m{i}", 10)
        scheduler.start()
        await clock.advance(60, step=0.25)
        await scheduler.stop()
        firsts = [times[0] - t0 for times in check.starts.values()]
        assert len(firsts) == 20
        assert all(0 <= first <= 10 for first in firsts)
        assert len({round(first, 1) for first in firsts}) > 10  # spread, not all at once
        for times in check.starts.values():
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert all(abs(gap - 10) <= 0.25 for gap in gaps)

    run(main)


def test_due_times_do_not_drift_with_check_duration():
    async def main() -> None:
        clock = ManualClock()
        check = Recorder(clock, duration=3.0)
        scheduler = Scheduler(check, clock=clock, rng=random.Random(2))
        scheduler.schedule("m", 5)
        first_due = scheduler.next_due("m")
        assert first_due is not None
        scheduler.start()
        await clock.advance(100, step=0.5)
        stopping = asyncio.create_task(scheduler.stop())
        await clock.advance(5)  # the run in flight finishes; nothing new starts
        assert await stopping is True
        times = check.starts["m"]
        # Each run starts on its slot: first + k * 5, not first + k * (5 + 3).
        assert len(times) >= 19
        for k, started in enumerate(times):
            assert abs(started - (first_due + 5 * k)) <= 0.5

    run(main)


def test_a_run_still_going_is_not_overlapped_and_missed_slots_are_skipped():
    async def main() -> None:
        clock = ManualClock()
        check = Recorder(clock)
        check.hold = True
        scheduler = Scheduler(check, clock=clock, rng=random.Random(3))
        scheduler.schedule("m", 5)
        scheduler.start()
        await clock.advance(30)
        assert len(check.starts["m"]) == 1
        assert check.most_in_flight == 1
        assert scheduler.stats.skipped_overlap >= 4
        check.release.set()
        await settle()
        assert not scheduler.running("m")
        await clock.advance(6)
        assert len(check.starts["m"]) == 2
        await scheduler.stop()

    run(main)


def test_the_global_concurrency_limit_holds():
    async def main() -> None:
        clock = ManualClock()
        check = Recorder(clock)
        check.hold = True
        scheduler = Scheduler(check, clock=clock, max_concurrency=3, rng=random.Random(4))
        for i in range(10):
            scheduler.schedule(f"m{i}", 5)
        scheduler.start()
        await clock.advance(5)
        assert check.in_flight == 3
        assert check.most_in_flight == 3
        check.release.set()
        await settle(60)
        assert check.most_in_flight == 3
        assert sum(len(t) for t in check.starts.values()) == 10
        await scheduler.stop()

    run(main)


def test_unschedule_stops_future_runs_and_stop_waits_for_runs_in_flight():
    async def main() -> None:
        clock = ManualClock()
        check = Recorder(clock)
        scheduler = Scheduler(check, clock=clock, rng=random.Random(5))
        scheduler.schedule("gone", 5)
        scheduler.schedule("kept", 5)
        scheduler.start()
        await clock.advance(10)
        runs = len(check.starts["gone"])
        scheduler.unschedule("gone")
        await clock.advance(20)
        assert len(check.starts["gone"]) == runs
        assert len(check.starts["kept"]) >= 5
        check.hold = True
        await clock.advance(5)
        assert scheduler.running("kept")
        stopping = asyncio.create_task(scheduler.stop(timeout_seconds=5))
        await settle()
        assert not stopping.done()
        check.release.set()
        assert await stopping is True
        assert not scheduler.running("kept")

    run(main)


def test_stop_gives_up_on_runs_that_outlast_the_limit():
    async def main() -> None:
        clock = ManualClock()
        check = Recorder(clock)
        check.hold = True
        scheduler = Scheduler(check, clock=clock, rng=random.Random(6))
        scheduler.schedule("m", 5)
        scheduler.start()
        await clock.advance(5)
        assert await scheduler.stop(timeout_seconds=0.05) is False

    run(main)


def test_a_failing_check_does_not_stop_the_schedule():
    async def main() -> None:
        clock = ManualClock()
        calls: list[float] = []

        async def broken(monitor_id: str) -> None:
            calls.append(clock.now())
            raise RuntimeError("boom")

        scheduler = Scheduler(broken, clock=clock, rng=random.Random(7))
        scheduler.schedule("m", 5)
        scheduler.start()
        await clock.advance(30)
        await scheduler.stop()
        assert len(calls) >= 5

    run(main)
