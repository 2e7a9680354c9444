"""The production monitor store: PostgreSQL through psycopg 3 (``stats-service[postgres]``).

Same contract and schema shape as the SQLite store. Several replicas share it:
each write runs in its own transaction on a small connection pool; a rollup is
updated with ``INSERT ... ON CONFLICT DO NOTHING`` then ``SELECT ... FOR UPDATE``,
so two replicas merging into one row serialise on its lock and neither update
is lost. A lease is one row taken with a conditional upsert.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from stats_service.errors import Conflict, ServiceUnavailable
from stats_service.monitors.aggregator import Granularity, Rollup, rollups_of
from stats_service.monitors.codec import (
    RESULT_COLUMNS,
    ROLLUP_COLUMNS,
    monitor_from_row,
    monitor_row,
    result_from_row,
    result_row,
    rollup_from_row,
    rollup_row,
)
from stats_service.monitors.model import CheckResult, Monitor
from stats_service.monitors.store import Cutoffs, MonitorState, StoreSize, next_state, time_key

__all__ = ["PostgresMonitorStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS monitors (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, spec TEXT NOT NULL,
    paused BOOLEAN NOT NULL, created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    id TEXT PRIMARY KEY, monitor_id TEXT NOT NULL, time_us BIGINT NOT NULL,
    ok BOOLEAN NOT NULL, status_code INTEGER, latency_us BIGINT, reason TEXT,
    message TEXT, failures TEXT, cert_expires_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS results_by_monitor ON results (monitor_id, time_us, id);
CREATE INDEX IF NOT EXISTS results_by_time ON results (time_us);
CREATE TABLE IF NOT EXISTS rollups (
    monitor_id TEXT NOT NULL, granularity TEXT NOT NULL, start BIGINT NOT NULL,
    count BIGINT NOT NULL, ok_count BIGINT NOT NULL, rt_count BIGINT NOT NULL,
    rt_min_us BIGINT, rt_max_us BIGINT, rt_sum_us BIGINT NOT NULL,
    histogram BYTEA NOT NULL, status_counts TEXT NOT NULL, error_counts TEXT NOT NULL,
    PRIMARY KEY (monitor_id, granularity, start)
);
CREATE INDEX IF NOT EXISTS rollups_by_start ON rollups (granularity, start);
CREATE TABLE IF NOT EXISTS states (
    monitor_id TEXT PRIMARY KEY, up BOOLEAN NOT NULL, since DOUBLE PRECISION NOT NULL,
    last_result TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    monitor_id TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL
);
"""

_MONITOR_COLUMNS = "id, name, spec, paused, created_at, updated_at"
_RESULT_SELECT = f"SELECT {', '.join(RESULT_COLUMNS)} FROM results"  # noqa: S608 - constant columns
_ROLLUP_SELECT = f"SELECT {', '.join(ROLLUP_COLUMNS)} FROM rollups"  # noqa: S608 - constant columns
_RESULT_INSERT = (
    f"INSERT INTO results ({', '.join(RESULT_COLUMNS)}) "  # noqa: S608 - constant columns
    f"VALUES ({', '.join(['%s'] * len(RESULT_COLUMNS))}) ON CONFLICT (id) DO NOTHING"
)
_ROLLUP_UPDATE = (
    "UPDATE rollups SET count = %s, ok_count = %s, rt_count = %s, rt_min_us = %s, "
    "rt_max_us = %s, rt_sum_us = %s, histogram = %s, status_counts = %s, error_counts = %s "
    "WHERE monitor_id = %s AND granularity = %s AND start = %s"
)
_POOL_SIZE = 4


class PostgresMonitorStore:
    """A :class:`~stats_service.monitors.store.MonitorStore` in PostgreSQL."""

    def __init__(self, conninfo: str) -> None:
        if not conninfo:
            from stats_service.errors import ConfigurationError  # noqa: PLC0415

            raise ConfigurationError("monitors_store = postgres needs monitors_database_url")
        self._conninfo = conninfo
        self._idle: asyncio.Queue[Any] | None = None
        self._all: list[Any] = []

    async def open(self) -> None:
        import psycopg  # noqa: PLC0415 - optional dependency, only with this store

        self._idle = asyncio.Queue()
        for _ in range(_POOL_SIZE):
            conn = await psycopg.AsyncConnection.connect(self._conninfo)
            self._all.append(conn)
            self._idle.put_nowait(conn)
        async with self._transaction() as cur:
            await cur.execute("SELECT pg_advisory_xact_lock(16016)")  # one migrator at a time
            await cur.execute(_SCHEMA)

    async def close(self) -> None:
        connections, self._all, self._idle = self._all, [], None
        for conn in connections:
            await conn.close()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        if self._idle is None:
            raise ServiceUnavailable("the monitor store is not open")
        conn = await self._idle.get()
        try:
            async with conn.transaction(), conn.cursor() as cur:
                yield cur
        finally:
            if self._idle is not None:
                self._idle.put_nowait(conn)

    async def add_monitor(self, monitor: Monitor) -> None:
        async with self._transaction() as cur:
            await _check_name(cur, monitor)
            await cur.execute(
                f"INSERT INTO monitors ({_MONITOR_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)",  # noqa: S608
                monitor_row(monitor),
            )

    async def replace_monitor(self, monitor: Monitor) -> bool:
        async with self._transaction() as cur:
            await _check_name(cur, monitor)
            row = monitor_row(monitor)
            await cur.execute(
                "UPDATE monitors SET name = %s, spec = %s, paused = %s, created_at = %s, "
                "updated_at = %s WHERE id = %s",
                (*row[1:], row[0]),
            )
            return bool(cur.rowcount == 1)

    async def delete_monitor(self, monitor_id: str) -> bool:
        async with self._transaction() as cur:
            await cur.execute("DELETE FROM monitors WHERE id = %s", (monitor_id,))
            found = bool(cur.rowcount == 1)
            for table in ("results", "rollups", "states", "leases"):
                await cur.execute(f"DELETE FROM {table} WHERE monitor_id = %s", (monitor_id,))  # noqa: S608
            return found

    async def get_monitor(self, monitor_id: str) -> Monitor | None:
        return await self._one_monitor("id", monitor_id)

    async def find_monitor(self, name: str) -> Monitor | None:
        return await self._one_monitor("name", name)

    async def _one_monitor(self, column: str, value: str) -> Monitor | None:
        async with self._transaction() as cur:
            await cur.execute(
                f"SELECT {_MONITOR_COLUMNS} FROM monitors WHERE {column} = %s",  # noqa: S608
                (value,),
            )
            row = await cur.fetchone()
        return None if row is None else monitor_from_row(row)

    async def list_monitors(self) -> list[Monitor]:
        async with self._transaction() as cur:
            await cur.execute(f"SELECT {_MONITOR_COLUMNS} FROM monitors ORDER BY created_at, id")  # noqa: S608
            rows = await cur.fetchall()
        return [monitor_from_row(row) for row in rows]

    async def record_results(self, results: Sequence[CheckResult]) -> int:
        if not results:
            return 0
        async with self._transaction() as cur:
            await cur.execute(
                "SELECT id FROM monitors WHERE id = ANY(%s) FOR SHARE",
                (sorted({r.monitor_id for r in results}),),
            )
            monitors = {row[0] for row in await cur.fetchall()}
            fresh: list[CheckResult] = []
            for result in results:
                if result.monitor_id not in monitors:
                    continue
                await cur.execute(_RESULT_INSERT, result_row(result))
                if cur.rowcount == 1:
                    fresh.append(result)
            for key, added in sorted(rollups_of(fresh).items()):
                await _merge_rollup(cur, key, added)
            for result in sorted(fresh, key=time_key):
                await _advance_state(cur, result)
            return len(fresh)

    async def results(
        self,
        monitor_id: str,
        *,
        since: float,
        until: float,
        limit: int,
        after: tuple[int, str] | None = None,
    ) -> list[CheckResult]:
        low, high = round(since * 1_000_000), round(until * 1_000_000)
        async with self._transaction() as cur:
            if after is None:
                await cur.execute(
                    f"{_RESULT_SELECT} WHERE monitor_id = %s AND time_us >= %s AND time_us < %s "
                    "ORDER BY time_us, id LIMIT %s",
                    (monitor_id, low, high, limit),
                )
            else:
                await cur.execute(
                    f"{_RESULT_SELECT} WHERE monitor_id = %s AND time_us >= %s AND time_us < %s "
                    "AND (time_us, id) > (%s, %s) ORDER BY time_us, id LIMIT %s",
                    (monitor_id, low, high, after[0], after[1], limit),
                )
            rows = await cur.fetchall()
        return [result_from_row(row) for row in rows]

    async def rollups(
        self, monitor_id: str, granularity: Granularity, *, since: float, until: float
    ) -> list[Rollup]:
        async with self._transaction() as cur:
            await cur.execute(
                f"{_ROLLUP_SELECT} WHERE monitor_id = %s AND granularity = %s "
                "AND start >= %s AND start < %s ORDER BY start",
                (monitor_id, granularity, since, until),
            )
            rows = await cur.fetchall()
        return [rollup_from_row(row) for row in rows]

    async def states(self) -> dict[str, MonitorState]:
        async with self._transaction() as cur:
            await cur.execute("SELECT monitor_id, up, since, last_result FROM states")
            rows = await cur.fetchall()
        return {row[0]: _state(row) for row in rows}

    async def purge(self, cutoffs: Cutoffs) -> int:
        async with self._transaction() as cur:
            await cur.execute(
                "DELETE FROM results WHERE time_us < %s",
                (round(cutoffs.results_before * 1_000_000),),
            )
            removed = int(cur.rowcount)
            for granularity, before in (
                ("minute", cutoffs.minute_before),
                ("hour", cutoffs.hour_before),
            ):
                await cur.execute(
                    "DELETE FROM rollups WHERE granularity = %s AND start < %s",
                    (granularity, before),
                )
                removed += int(cur.rowcount)
            return removed

    async def size(self) -> StoreSize:
        async with self._transaction() as cur:
            counts = []
            for sql in (
                "SELECT count(*) FROM monitors",
                "SELECT count(*) FROM results",
                "SELECT count(*) FROM rollups WHERE granularity = 'minute'",
                "SELECT count(*) FROM rollups WHERE granularity = 'hour'",
            ):
                await cur.execute(sql)
                row = await cur.fetchone()
                counts.append(int(row[0]))
        return StoreSize(*counts)

    async def claim_leases(
        self, holder: str, monitor_ids: Sequence[str], *, now: float, ttl_seconds: float
    ) -> set[str]:
        async with self._transaction() as cur:
            for monitor_id in sorted(monitor_ids):
                await cur.execute(
                    "INSERT INTO leases (monitor_id, holder, expires_at) VALUES (%s, %s, %s) "
                    "ON CONFLICT (monitor_id) DO UPDATE SET holder = excluded.holder, "
                    "expires_at = excluded.expires_at "
                    "WHERE leases.holder = excluded.holder OR leases.expires_at <= %s",
                    (monitor_id, holder, now + ttl_seconds, now),
                )
            await cur.execute(
                "SELECT monitor_id FROM leases WHERE holder = %s AND expires_at > %s",
                (holder, now),
            )
            rows = await cur.fetchall()
        wanted = set(monitor_ids)
        return {row[0] for row in rows if row[0] in wanted}

    async def release_leases(self, holder: str) -> None:
        async with self._transaction() as cur:
            await cur.execute("DELETE FROM leases WHERE holder = %s", (holder,))


async def _check_name(cur: Any, monitor: Monitor) -> None:
    await cur.execute(
        "SELECT id FROM monitors WHERE name = %s AND id <> %s", (monitor.name, monitor.id)
    )
    row = await cur.fetchone()
    if row is not None:
        raise Conflict(
            f"a monitor named {monitor.name!r} exists already",
            details={"key": "name", "id": row[0]},
        )


async def _merge_rollup(cur: Any, key: tuple[str, str, int], added: Rollup) -> None:
    empty = Rollup(key[0], added.granularity, key[2])
    await cur.execute(
        f"INSERT INTO rollups ({', '.join(ROLLUP_COLUMNS)}) "  # noqa: S608 - constant columns
        f"VALUES ({', '.join(['%s'] * len(ROLLUP_COLUMNS))}) ON CONFLICT DO NOTHING",
        rollup_row(empty),
    )
    await cur.execute(
        f"{_ROLLUP_SELECT} WHERE monitor_id = %s AND granularity = %s AND start = %s FOR UPDATE",
        key,
    )
    row = rollup_from_row(await cur.fetchone())
    row.merge(added)
    values = rollup_row(row)
    await cur.execute(_ROLLUP_UPDATE, (*values[3:], *values[:3]))


async def _advance_state(cur: Any, result: CheckResult) -> None:
    await cur.execute(
        "SELECT monitor_id, up, since, last_result FROM states WHERE monitor_id = %s FOR UPDATE",
        (result.monitor_id,),
    )
    found = await cur.fetchone()
    state = next_state(None if found is None else _state(found), result)
    if state is not None:
        await cur.execute(
            "INSERT INTO states (monitor_id, up, since, last_result) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (monitor_id) DO UPDATE SET up = excluded.up, since = excluded.since, "
            "last_result = excluded.last_result",
            (state.monitor_id, state.up, state.since, state.last.model_dump_json()),
        )


def _state(row: Any) -> MonitorState:
    return MonitorState(
        monitor_id=row[0],
        up=bool(row[1]),
        since=float(row[2]),
        last=CheckResult.model_validate_json(row[3]),
    )
