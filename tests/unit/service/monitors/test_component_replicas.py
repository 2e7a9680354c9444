"""Two replicas on one store: each monitor runs on exactly one; a dead replica's move over.

Both components share one in-memory store and one manual clock; checks are
counted by a fake checker, so no network and no real waiting is involved.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from stats_service.monitors.component import MonitorsComponent
from stats_service.monitors.model import CheckResult, Monitor, MonitorSpec, new_result_id
from stats_service.monitors.scheduler import ManualClock
from stats_service.monitors.store import MemoryMonitorStore
from stats_service.settings import load_settings


class CountingChecker:
    """Stands in for the HTTP checker: every check passes and is counted per replica."""

    def __init__(self, clock: ManualClock, runs: Counter[tuple[str, str]], replica: str) -> None:
        self.clock, self.runs, self.replica = clock, runs, replica

    async def check(self, monitor: Monitor) -> CheckResult:
        self.runs[(self.replica, monitor.id)] += 1
        return CheckResult(
            id=new_result_id(),
            monitor_id=monitor.id,
            time=self.clock.now(),
            ok=True,
            status_code=200,
            latency_us=1000,
        )

    async def aclose(self) -> None:
        """Nothing to close."""


def test_each_monitor_runs_on_one_replica_and_moves_when_its_holder_dies(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path, monitors_lease_seconds=30)
    clock = ManualClock()
    store = MemoryMonitorStore()
    runs: Counter[tuple[str, str]] = Counter()

    async def replica(name: str) -> MonitorsComponent:
        component = MonitorsComponent(settings, store=store, clock=clock)
        await component.open()
        component.service().checker = CountingChecker(clock, runs, name)  # type: ignore[assignment]
        return component

    async def main() -> None:
        a = await replica("a")
        ids = [
            (
                await a.service().create(
                    MonitorSpec(name=f"m{i}", url="http://127.0.0.1/", interval_seconds=10)
                )
            ).id
            for i in range(6)
        ]
        b = await replica("b")
        await clock.advance(60)
        assert {r for r, _ in runs} == {"a"}  # a holds every lease; b runs none
        assert all(runs[("a", m)] >= 5 for m in ids)
        # a dies without releasing its leases: its maintenance and scheduler just stop.
        a_service = a.service()
        assert a_service.scheduler is not None
        a._stopping.set()
        await a_service.scheduler.stop()
        before = runs.copy()
        await clock.advance(20)
        assert runs == before  # leases not yet expired: nobody runs them
        await clock.advance(40)
        assert all(runs[("b", m)] >= 1 for m in ids)  # taken over after expiry
        for m in ids:
            assert runs[("a", m)] == before[("a", m)]
        stopping = asyncio.create_task(b.stop())
        await clock.advance(1)
        await stopping

    asyncio.run(asyncio.wait_for(main(), 30))
