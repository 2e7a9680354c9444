"""Two replicas sharing a real PostgreSQL: every monitor on exactly one, taken over on death.

Time is a manual clock and checks are counted by a stand-in checker; the
leases, the monitor definitions and the results live in PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from stats_service.monitors.component import MonitorsComponent
from stats_service.monitors.model import CheckResult, Monitor, MonitorSpec, new_result_id
from stats_service.monitors.postgres_store import PostgresMonitorStore
from stats_service.monitors.scheduler import ManualClock
from stats_service.settings import load_settings


class CountingChecker:
    def __init__(self, clock: ManualClock, runs: Counter[tuple[str, str]], replica: str) -> None:
        self.clock, self.runs, self.replica = clock, runs, replica

    async def check(self, monitor: Monitor) -> CheckResult:
        self.runs[(self.replica, monitor.id)] += 1
        return CheckResult(
            id=new_result_id(), monitor_id=monitor.id, time=self.clock.now(), ok=True,
            status_code=200, latency_us=1000,
        )  # fmt: skip

    async def aclose(self) -> None:
        """Nothing to close."""


def test_leases_in_postgres_move_monitors_from_a_dead_replica(
    tmp_path: Path, postgres_database: str
):
    settings = load_settings(data_dir=tmp_path, monitors_lease_seconds=30)
    clock = ManualClock()
    runs: Counter[tuple[str, str]] = Counter()

    async def replica(name: str) -> MonitorsComponent:
        component = MonitorsComponent(
            settings, store=PostgresMonitorStore(postgres_database), clock=clock
        )
        await component.open()
        component.service().checker = CountingChecker(clock, runs, name)  # type: ignore[assignment]
        return component

    async def advance(seconds: float) -> None:
        # Real database round trips between clock steps.
        for _ in range(int(seconds)):
            await clock.advance(1)
            await asyncio.sleep(0.02)

    async def main() -> None:
        a = await replica("a")
        spec = {"url": "http://127.0.0.1/", "interval_seconds": 10}
        ids = [(await a.service().create(MonitorSpec(name=f"m{i}", **spec))).id for i in range(4)]
        b = await replica("b")
        await advance(40)
        assert {r for r, _ in runs} == {"a"}
        scheduler = a.service().scheduler
        assert scheduler is not None
        a._stopping.set()  # a dies: no more renewals, no more checks, leases kept
        await scheduler.stop()
        before = runs.copy()
        await advance(60)
        assert all(runs[("b", m)] >= 1 for m in ids)
        assert all(runs[("a", m)] == before[("a", m)] for m in ids)
        states = await b.service().store.states()
        assert set(states) == set(ids)
        stopping = asyncio.create_task(b.stop())
        await advance(2)
        await stopping
        await a.service().store.close()

    asyncio.run(asyncio.wait_for(main(), 60))
