"""The monitors domain on the in-memory store: status windows, retention, pause and delete."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from stats_service.errors import NotFound
from stats_service.monitors.component import MonitorsComponent
from stats_service.monitors.model import CheckResult, MonitorSpec
from stats_service.monitors.scheduler import ManualClock
from stats_service.monitors.store import MemoryMonitorStore
from stats_service.settings import load_settings

DAY = 86_400


def result(monitor_id: str, time: float, *, ok: bool, latency_us: int, n: int) -> CheckResult:
    return CheckResult(
        id=f"chk_{n}", monitor_id=monitor_id, time=time, ok=ok,
        status_code=200 if ok else 500, latency_us=latency_us,
    )  # fmt: skip


def with_component(tmp_path: Path, body, **settings_overrides) -> None:
    settings = load_settings(data_dir=tmp_path, **settings_overrides)
    clock = ManualClock(start=1_700_000_000 // 3600 * 3600)

    async def main() -> None:
        component = MonitorsComponent(settings, store=MemoryMonitorStore(), clock=clock)
        await component.open()
        try:
            await body(component, clock)
        finally:
            stopping = asyncio.create_task(component.stop())
            await clock.advance(1)
            await stopping

    asyncio.run(asyncio.wait_for(main(), 30))


def test_status_reports_state_since_and_each_window(tmp_path: Path):
    async def body(component: MonitorsComponent, clock: ManualClock) -> None:
        service = component.service()
        monitor = await service.create(MonitorSpec(name="home", url="http://127.0.0.1/"))
        await service.set_paused(monitor.id, True)
        now = clock.now()
        items = []
        # 20 days ago: 10 failures; 3 days ago: 10 good; the last hour: 8 good, 2 bad.
        for n in range(10):
            items.append(result(monitor.id, now - 20 * DAY + n, ok=False, latency_us=9000, n=n))
            items.append(result(monitor.id, now - 3 * DAY + n, ok=True, latency_us=5000, n=100 + n))
            good = n < 8
            items.append(result(monitor.id, now - 600 + n, ok=good, latency_us=1000 + n, n=200 + n))
        await service.record([(monitor, item) for item in items])
        status = await service.status(monitor.id)
        assert status["state"] == "paused"
        assert status["up"] is False
        assert status["since"] == now - 600 + 8
        assert status["last_result"]["id"] == "chk_209"
        w = status["windows"]
        assert (w["24h"]["checks"], w["7d"]["checks"], w["30d"]["checks"]) == (10, 20, 30)
        assert w["24h"]["uptime_percent"] == pytest.approx(80)
        assert w["7d"]["uptime_percent"] == pytest.approx(90)
        assert w["30d"]["uptime_percent"] == pytest.approx(60)
        assert w["24h"]["p50_ms"] == pytest.approx(1.004, rel=0.01)
        assert w["30d"]["p99_ms"] == pytest.approx(9.0, rel=0.01)

    with_component(tmp_path, body)


def test_the_maintenance_loop_purges_by_retention(tmp_path: Path):
    async def body(component: MonitorsComponent, clock: ManualClock) -> None:
        service = component.service()
        monitor = await service.create(MonitorSpec(name="home", url="http://127.0.0.1/"))
        await service.set_paused(monitor.id, True)
        now = clock.now()
        await service.record(
            [
                (monitor, result(monitor.id, now + k * 3600, ok=True, latency_us=10, n=k))
                for k in range(3)
            ]
        )
        assert (await service.store.size()).results == 3
        await clock.advance(DAY + 1.5 * 3600, step=600)
        size = await service.store.size()
        assert size.results == 1  # only the newest is within a day
        assert size.minute_rows == 3  # minute rows are kept two days here
        await clock.advance(DAY + 3 * 3600, step=600)
        assert (await service.store.size()).minute_rows == 0
        assert (await service.store.size()).hour_rows == 3

    with_component(
        tmp_path,
        body,
        monitors_results_retention_days=1,
        monitors_minute_retention_days=2,
        monitors_retention_interval_seconds=600,
    )


def test_pause_is_idempotent_and_delete_makes_everything_404(tmp_path: Path):
    async def body(component: MonitorsComponent, clock: ManualClock) -> None:
        service = component.service()
        monitor = await service.create(MonitorSpec(name="home", url="http://127.0.0.1/"))
        assert service.scheduler is not None
        assert monitor.id in service.scheduler.scheduled
        first = await service.set_paused(monitor.id, True)
        await clock.advance(1)
        second = await service.set_paused(monitor.id, True)
        assert first == second
        assert monitor.id not in service.scheduler.scheduled
        await service.delete(monitor.id)
        for call in (service.get, service.status, service.run_now):
            with pytest.raises(NotFound):
                await call(monitor.id)

    with_component(tmp_path, body)
