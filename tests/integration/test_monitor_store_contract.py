"""Every monitor store keeps the same contract: memory, SQLite, and a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from stats_service.errors import Conflict
from stats_service.monitors.aggregator import Rollup, rollups_of
from stats_service.monitors.model import CheckResult, Monitor, MonitorSpec, Reason
from stats_service.monitors.sqlite_store import SQLiteMonitorStore
from stats_service.monitors.store import Cutoffs, MemoryMonitorStore, MonitorStore

T0 = 1_700_000_000 // 3600 * 3600
StoreFactory = Callable[[], MonitorStore]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    if request.param == "memory":
        return MemoryMonitorStore
    if request.param == "sqlite":
        return lambda: SQLiteMonitorStore(tmp_path / "monitors.sqlite3")
    database_url: str = request.getfixturevalue("postgres_database")
    from stats_service.monitors.postgres_store import PostgresMonitorStore  # noqa: PLC0415

    return lambda: PostgresMonitorStore(database_url)


def with_store(factory: StoreFactory, body: Callable[[MonitorStore], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        store = factory()
        await store.open()
        try:
            return await body(store)
        finally:
            await store.close()

    return asyncio.run(main())


def monitor(name: str = "site", monitor_id: str = "mon_1", **spec: Any) -> Monitor:
    return Monitor(
        id=monitor_id,
        spec=MonitorSpec(name=name, url="http://127.0.0.1/", **spec),
        created_at=T0,
        updated_at=T0,
    )


def result(i: int, *, monitor_id: str = "mon_1", ok: bool = True, offset: float = 0) -> CheckResult:
    return CheckResult(
        id=f"chk_{monitor_id}_{i}_{int(offset)}",
        monitor_id=monitor_id,
        time=T0 + offset + i * 7.5,
        ok=ok,
        status_code=200 if ok else 503,
        latency_us=1000 + 37 * i,
    )


def test_monitors_are_stored_found_replaced_and_deleted(make_store: StoreFactory):
    async def body(store: MonitorStore) -> None:
        await store.add_monitor(monitor())
        await store.add_monitor(monitor("other", "mon_2", tags=["x"]))
        assert (await store.get_monitor("mon_1")) == monitor()
        assert (await store.find_monitor("other")) == monitor("other", "mon_2", tags=["x"])
        assert [m.id for m in await store.list_monitors()] == ["mon_1", "mon_2"]
        with pytest.raises(Conflict):
            await store.add_monitor(monitor("site", "mon_3"))
        with pytest.raises(Conflict):
            await store.replace_monitor(monitor("site", "mon_2"))
        paused = monitor().model_copy(update={"paused": True})
        assert await store.replace_monitor(paused)
        assert (await store.get_monitor("mon_1")) == paused
        assert not await store.replace_monitor(monitor("x", "mon_9"))
        assert await store.delete_monitor("mon_2")
        assert not await store.delete_monitor("mon_2")
        assert await store.get_monitor("mon_2") is None

    with_store(make_store, body)


def test_results_roll_up_once_even_when_delivered_twice(make_store: StoreFactory):
    batch = [result(i, ok=i % 4 != 0) for i in range(40)]

    async def body(store: MonitorStore) -> None:
        await store.add_monitor(monitor())
        assert await store.record_results(batch[:25]) == 25
        assert await store.record_results(batch) == 15  # 25 again: ignored
        assert await store.record_results(batch[::3]) == 0
        expected = rollups_of(batch)
        for granularity in ("minute", "hour"):
            rows = await store.rollups("mon_1", granularity, since=T0 - 3600, until=T0 + 86_400)
            want = sorted(
                (r for k, r in expected.items() if k[1] == granularity), key=lambda r: r.start
            )
            assert [r.columns() for r in rows] == [r.columns() for r in want]

    with_store(make_store, body)


def test_results_page_in_time_order_within_a_half_open_window(make_store: StoreFactory):
    batch = [result(i) for i in range(10)]

    async def body(store: MonitorStore) -> None:
        await store.add_monitor(monitor())
        await store.record_results(list(reversed(batch)))
        window = {"since": batch[2].time, "until": batch[8].time}
        first = await store.results("mon_1", limit=4, **window)
        assert [r.id for r in first] == [r.id for r in batch[2:6]]
        rest = await store.results(
            "mon_1", limit=4, after=(round(first[-1].time * 1e6), first[-1].id), **window
        )
        assert [r.id for r in rest] == [r.id for r in batch[6:8]]
        assert first[0] == batch[2]

    with_store(make_store, body)


def test_state_tracks_up_down_and_since(make_store: StoreFactory):
    async def body(store: MonitorStore) -> None:
        await store.add_monitor(monitor())
        await store.record_results([result(0), result(1)])
        state = (await store.states())["mon_1"]
        assert (state.up, state.since, state.last.id) == (True, result(0).time, result(1).id)
        await store.record_results([result(2, ok=False), result(3, ok=False)])
        state = (await store.states())["mon_1"]
        assert (state.up, state.since) == (False, result(2).time)
        await store.record_results([result(-5)])  # late and old: no change
        assert (await store.states())["mon_1"].last.id == result(3, ok=False).id

    with_store(make_store, body)


def test_results_of_deleted_or_unknown_monitors_leave_nothing(make_store: StoreFactory):
    async def body(store: MonitorStore) -> None:
        await store.add_monitor(monitor())
        await store.record_results([result(0)])
        assert await store.delete_monitor("mon_1")
        assert await store.record_results([result(1), result(0, monitor_id="mon_x")]) == 0
        size = await store.size()
        assert (size.results, size.minute_rows, size.hour_rows) == (0, 0, 0)
        assert await store.states() == {}

    with_store(make_store, body)


def test_purge_removes_each_kind_by_its_own_cutoff(make_store: StoreFactory):
    async def body(store: MonitorStore) -> None:
        await store.add_monitor(monitor())
        await store.record_results([result(i, offset=h * 3600) for h in range(3) for i in range(2)])
        before = await store.size()
        assert (before.results, before.minute_rows, before.hour_rows) == (6, 3, 3)
        removed = await store.purge(
            Cutoffs(results_before=T0 + 3600, minute_before=T0 + 7200, hour_before=T0 + 1)
        )
        after = await store.size()
        assert (after.results, after.minute_rows, after.hour_rows) == (4, 1, 2)
        assert removed == 2 + 2 + 1

    with_store(make_store, body)


def test_a_lease_belongs_to_one_holder_until_it_expires(make_store: StoreFactory):
    async def body(store: MonitorStore) -> None:
        ids = ["mon_1", "mon_2"]
        assert await store.claim_leases("a", ids, now=T0, ttl_seconds=30) == set(ids)
        assert await store.claim_leases("b", [*ids, "mon_3"], now=T0 + 10, ttl_seconds=30) == {
            "mon_3"
        }
        assert await store.claim_leases("a", ids, now=T0 + 20, ttl_seconds=30) == set(ids)
        # a stops renewing (it died): b takes over once the lease has run out.
        assert await store.claim_leases("b", ids, now=T0 + 49, ttl_seconds=30) == set()
        assert await store.claim_leases("b", ids, now=T0 + 51, ttl_seconds=30) == set(ids)
        await store.release_leases("b")
        assert await store.claim_leases("a", ids, now=T0 + 52, ttl_seconds=30) == set(ids)

    with_store(make_store, body)


def test_error_results_count_reasons_and_keep_no_latency(make_store: StoreFactory):
    failed = CheckResult(
        id="chk_e", monitor_id="mon_1", time=T0, ok=False, reason=Reason.TIMEOUT, message="slow"
    )

    async def body(store: MonitorStore) -> list[Rollup]:
        await store.add_monitor(monitor())
        await store.record_results([failed, result(0)])
        assert (await store.results("mon_1", since=0, until=T0 + 60, limit=10))[0] == failed
        return await store.rollups("mon_1", "minute", since=0, until=T0 + 60)

    (row,) = with_store(make_store, body)
    assert (row.count, row.ok_count, row.rt_count) == (2, 1, 1)
    assert row.error_counts == {"timeout": 1}
    assert row.status_counts == {"200": 1}
