"""The embedded monitor store: one SQLite file under ``data_dir``.

Writes go through the group-committing :class:`~stats_service.sqlite.SQLiteWriter`
(one writer thread, one fsync per group), reads through a
:class:`~stats_service.sqlite.SQLiteReader` pool. A rollup is updated by
reading the row, merging the new results into it and writing it back, which is
safe because the writer is the file's only writer.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from stats_service.errors import Conflict
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
from stats_service.sqlite import SQLiteReader, SQLiteWriter

__all__ = ["SQLiteMonitorStore"]

_SCHEMA = """
CREATE TABLE monitors (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    spec TEXT NOT NULL,
    paused INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE results (
    id TEXT PRIMARY KEY,
    monitor_id TEXT NOT NULL,
    time_us INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    status_code INTEGER,
    latency_us INTEGER,
    reason TEXT,
    message TEXT,
    failures TEXT,
    cert_expires_at REAL
);
CREATE INDEX results_by_monitor ON results (monitor_id, time_us, id);
CREATE INDEX results_by_time ON results (time_us);
CREATE TABLE rollups (
    monitor_id TEXT NOT NULL,
    granularity TEXT NOT NULL,
    start INTEGER NOT NULL,
    count INTEGER NOT NULL,
    ok_count INTEGER NOT NULL,
    rt_count INTEGER NOT NULL,
    rt_min_us INTEGER,
    rt_max_us INTEGER,
    rt_sum_us INTEGER NOT NULL,
    histogram BLOB NOT NULL,
    status_counts TEXT NOT NULL,
    error_counts TEXT NOT NULL,
    PRIMARY KEY (monitor_id, granularity, start)
) WITHOUT ROWID;
CREATE INDEX rollups_by_start ON rollups (granularity, start);
CREATE TABLE states (
    monitor_id TEXT PRIMARY KEY,
    up INTEGER NOT NULL,
    since REAL NOT NULL,
    last_result TEXT NOT NULL
);
CREATE TABLE leases (
    monitor_id TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""

_RESULT_SELECT = f"SELECT {', '.join(RESULT_COLUMNS)} FROM results"  # noqa: S608 - constant columns
_ROLLUP_SELECT = f"SELECT {', '.join(ROLLUP_COLUMNS)} FROM rollups"  # noqa: S608 - constant columns
_ROLLUP_UPSERT = (
    f"INSERT OR REPLACE INTO rollups ({', '.join(ROLLUP_COLUMNS)}) "  # noqa: S608 - constant columns
    f"VALUES ({', '.join('?' * len(ROLLUP_COLUMNS))})"
)
_RESULT_INSERT = (
    f"INSERT OR IGNORE INTO results ({', '.join(RESULT_COLUMNS)}) "  # noqa: S608 - constant columns
    f"VALUES ({', '.join('?' * len(RESULT_COLUMNS))})"
)
_MONITOR_COLUMNS = "id, name, spec, paused, created_at, updated_at"


class SQLiteMonitorStore:
    """A :class:`~stats_service.monitors.store.MonitorStore` in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._writer: SQLiteWriter | None = None
        self._reader: SQLiteReader | None = None

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    async def open(self) -> None:
        writer = SQLiteWriter(self._path, migrations=[_SCHEMA], thread_name="stats-monitors-writer")

        def start() -> None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            writer.open()

        await asyncio.to_thread(start)
        self._writer = writer
        self._reader = SQLiteReader(
            self._path, max_connections=2, thread_name_prefix="stats-monitors-reader"
        )

    async def close(self) -> None:
        writer, reader = self._writer, self._reader
        self._writer = self._reader = None
        if writer is not None:
            await asyncio.to_thread(writer.close)
        if reader is not None:
            await asyncio.to_thread(reader.close)

    def _w(self) -> SQLiteWriter:
        if self._writer is None:
            raise RuntimeError("the monitor store is not open")
        return self._writer

    def _r(self) -> SQLiteReader:
        if self._reader is None:
            raise RuntimeError("the monitor store is not open")
        return self._reader

    async def add_monitor(self, monitor: Monitor) -> None:
        def unit(conn: sqlite3.Connection) -> None:
            _check_name(conn, monitor)
            conn.execute(
                f"INSERT INTO monitors ({_MONITOR_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",  # noqa: S608
                monitor_row(monitor),
            )

        await self._w().submit(unit)

    async def replace_monitor(self, monitor: Monitor) -> bool:
        def unit(conn: sqlite3.Connection) -> bool:
            _check_name(conn, monitor)
            row = monitor_row(monitor)
            cursor = conn.execute(
                "UPDATE monitors SET name = ?, spec = ?, paused = ?, created_at = ?, "
                "updated_at = ? WHERE id = ?",
                (*row[1:], row[0]),
            )
            return cursor.rowcount == 1

        return await self._w().submit(unit)

    async def delete_monitor(self, monitor_id: str) -> bool:
        def unit(conn: sqlite3.Connection) -> bool:
            found = conn.execute("DELETE FROM monitors WHERE id = ?", (monitor_id,)).rowcount
            for table in ("results", "rollups", "states", "leases"):
                conn.execute(f"DELETE FROM {table} WHERE monitor_id = ?", (monitor_id,))  # noqa: S608
            return found == 1

        return await self._w().submit(unit)

    async def get_monitor(self, monitor_id: str) -> Monitor | None:
        return await self._one_monitor("id", monitor_id)

    async def find_monitor(self, name: str) -> Monitor | None:
        return await self._one_monitor("name", name)

    async def _one_monitor(self, column: str, value: str) -> Monitor | None:
        def read(conn: sqlite3.Connection) -> Monitor | None:
            row = conn.execute(
                f"SELECT {_MONITOR_COLUMNS} FROM monitors WHERE {column} = ?",  # noqa: S608
                (value,),
            ).fetchone()
            return None if row is None else monitor_from_row(row)

        return await self._r().run(read)

    async def list_monitors(self) -> list[Monitor]:
        def read(conn: sqlite3.Connection) -> list[Monitor]:
            rows = conn.execute(
                f"SELECT {_MONITOR_COLUMNS} FROM monitors ORDER BY created_at, id"  # noqa: S608
            ).fetchall()
            return [monitor_from_row(row) for row in rows]

        return await self._r().run(read)

    async def record_results(self, results: Sequence[CheckResult]) -> int:
        if not results:
            return 0
        return await self._w().submit(lambda conn: _record(conn, results))

    async def results(
        self,
        monitor_id: str,
        *,
        since: float,
        until: float,
        limit: int,
        after: tuple[int, str] | None = None,
    ) -> list[CheckResult]:
        low, high = _us(since), _us(until)

        def read(conn: sqlite3.Connection) -> list[CheckResult]:
            if after is None:
                rows = conn.execute(
                    f"{_RESULT_SELECT} WHERE monitor_id = ? AND time_us >= ? AND time_us < ? "
                    "ORDER BY time_us, id LIMIT ?",
                    (monitor_id, low, high, limit),
                ).fetchall()
            else:
                rows = conn.execute(
                    f"{_RESULT_SELECT} WHERE monitor_id = ? AND time_us >= ? AND time_us < ? "
                    "AND (time_us, id) > (?, ?) ORDER BY time_us, id LIMIT ?",
                    (monitor_id, low, high, after[0], after[1], limit),
                ).fetchall()
            return [result_from_row(row) for row in rows]

        return await self._r().run(read)

    async def rollups(
        self, monitor_id: str, granularity: Granularity, *, since: float, until: float
    ) -> list[Rollup]:
        def read(conn: sqlite3.Connection) -> list[Rollup]:
            rows = conn.execute(
                f"{_ROLLUP_SELECT} WHERE monitor_id = ? AND granularity = ? "
                "AND start >= ? AND start < ? ORDER BY start",
                (monitor_id, granularity, since, until),
            ).fetchall()
            return [rollup_from_row(row) for row in rows]

        return await self._r().run(read)

    async def states(self) -> dict[str, MonitorState]:
        def read(conn: sqlite3.Connection) -> dict[str, MonitorState]:
            rows = conn.execute("SELECT monitor_id, up, since, last_result FROM states").fetchall()
            return {row[0]: _state(row) for row in rows}

        return await self._r().run(read)

    async def purge(self, cutoffs: Cutoffs) -> int:
        def unit(conn: sqlite3.Connection) -> int:
            removed = conn.execute(
                "DELETE FROM results WHERE time_us < ?", (_us(cutoffs.results_before),)
            ).rowcount
            for granularity, before in (
                ("minute", cutoffs.minute_before),
                ("hour", cutoffs.hour_before),
            ):
                removed += conn.execute(
                    "DELETE FROM rollups WHERE granularity = ? AND start < ?", (granularity, before)
                ).rowcount
            return removed

        return await self._w().submit(unit)

    async def size(self) -> StoreSize:
        def read(conn: sqlite3.Connection) -> StoreSize:
            def count(sql: str) -> int:
                return int(conn.execute(sql).fetchone()[0])

            return StoreSize(
                monitors=count("SELECT count(*) FROM monitors"),
                results=count("SELECT count(*) FROM results"),
                minute_rows=count("SELECT count(*) FROM rollups WHERE granularity = 'minute'"),
                hour_rows=count("SELECT count(*) FROM rollups WHERE granularity = 'hour'"),
            )

        return await self._r().run(read)

    async def claim_leases(
        self, holder: str, monitor_ids: Sequence[str], *, now: float, ttl_seconds: float
    ) -> set[str]:
        def unit(conn: sqlite3.Connection) -> set[str]:
            conn.executemany(
                "INSERT INTO leases (monitor_id, holder, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (monitor_id) DO UPDATE SET holder = excluded.holder, "
                "expires_at = excluded.expires_at "
                "WHERE leases.holder = excluded.holder OR leases.expires_at <= ?",
                [(monitor_id, holder, now + ttl_seconds, now) for monitor_id in monitor_ids],
            )
            rows = conn.execute(
                "SELECT monitor_id FROM leases WHERE holder = ? AND expires_at > ?", (holder, now)
            ).fetchall()
            wanted = set(monitor_ids)
            return {row[0] for row in rows if row[0] in wanted}

        return await self._w().submit(unit)

    async def release_leases(self, holder: str) -> None:
        await self._w().submit(
            lambda conn: conn.execute("DELETE FROM leases WHERE holder = ?", (holder,))
        )


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def _check_name(conn: sqlite3.Connection, monitor: Monitor) -> None:
    row = conn.execute(
        "SELECT id FROM monitors WHERE name = ? AND id != ?", (monitor.name, monitor.id)
    ).fetchone()
    if row is not None:
        raise Conflict(
            f"a monitor named {monitor.name!r} exists already",
            details={"key": "name", "id": row[0]},
        )


def _state(row: Any) -> MonitorState:
    return MonitorState(
        monitor_id=row[0],
        up=bool(row[1]),
        since=float(row[2]),
        last=CheckResult.model_validate_json(row[3]),
    )


def _record(conn: sqlite3.Connection, results: Sequence[CheckResult]) -> int:
    monitors = {
        row[0]
        for row in conn.execute(
            "SELECT id FROM monitors WHERE id IN (SELECT value FROM json_each(?))",
            (_json_list({r.monitor_id for r in results}),),
        )
    }
    fresh = [
        result
        for result in results
        if result.monitor_id in monitors
        and conn.execute(_RESULT_INSERT, result_row(result)).rowcount
    ]
    for key, added in rollups_of(fresh).items():
        found = conn.execute(
            f"{_ROLLUP_SELECT} WHERE monitor_id = ? AND granularity = ? AND start = ?", key
        ).fetchone()
        row = added if found is None else rollup_from_row(found)
        if found is not None:
            row.merge(added)
        conn.execute(_ROLLUP_UPSERT, rollup_row(row))
    for result in sorted(fresh, key=time_key):
        found = conn.execute(
            "SELECT monitor_id, up, since, last_result FROM states WHERE monitor_id = ?",
            (result.monitor_id,),
        ).fetchone()
        state = next_state(None if found is None else _state(found), result)
        if state is not None:
            conn.execute(
                "INSERT OR REPLACE INTO states (monitor_id, up, since, last_result) "
                "VALUES (?, ?, ?, ?)",
                (state.monitor_id, state.up, state.since, state.last.model_dump_json()),
            )
    return len(fresh)


def _json_list(values: set[str]) -> str:
    return orjson.dumps(sorted(values)).decode()
