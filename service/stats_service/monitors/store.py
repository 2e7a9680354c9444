"""Where monitors, results, rollups and leases live: the store contract and its in-memory form.

:class:`MonitorStore` is the small interface the rest of the subsystem uses;
:class:`MemoryMonitorStore` implements it for tests and for the ``memory``
setting; :mod:`.sqlite_store` (the embedded default) and :mod:`.postgres_store`
implement it on disk. Every implementation passes the same contract tests.

Two rules every store keeps:

- ``record_results`` applies a result (raw row, its minute and hour rollups,
  the monitor's up/down state) only if its id is new and its monitor still
  exists, in one transaction: redelivery never double counts, and a check that
  finishes after its monitor was deleted leaves nothing behind.
- ``claim_leases`` gives each monitor to one holder at a time: a lease is taken
  when free, expired or already the caller's, and renewed by every claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from stats_service.errors import Conflict
from stats_service.monitors.aggregator import GRANULARITIES, Granularity, Rollup, bucket_start
from stats_service.monitors.model import CheckResult, Monitor

__all__ = [
    "Cutoffs",
    "MemoryMonitorStore",
    "MonitorState",
    "MonitorStore",
    "StoreSize",
    "next_state",
    "time_key",
]


@dataclass(frozen=True, slots=True)
class MonitorState:
    """Up or down, since when, and the latest result."""

    monitor_id: str
    up: bool
    since: float
    last: CheckResult


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """Rows older than these Unix times are purged (results by check time, rollups by start)."""

    results_before: float
    minute_before: float
    hour_before: float


@dataclass(frozen=True, slots=True)
class StoreSize:
    """How many rows each kind of data holds."""

    monitors: int
    results: int
    minute_rows: int
    hour_rows: int


def time_key(result: CheckResult) -> tuple[int, str]:
    """The order of results (and the pagination cursor): microseconds, then id."""
    return round(result.time * 1_000_000), result.id


def next_state(state: MonitorState | None, result: CheckResult) -> MonitorState | None:
    """The state after ``result``; ``None`` when it is older than the latest (no change)."""
    if state is None:
        return MonitorState(result.monitor_id, result.ok, result.time, result)
    if time_key(result) < time_key(state.last):
        return None
    since = state.since if state.up == result.ok else result.time
    return MonitorState(result.monitor_id, result.ok, since, result)


class MonitorStore(Protocol):
    """The monitors subsystem's storage. Times are Unix seconds."""

    async def open(self) -> None:
        """Connect and create the schema if missing."""

    async def close(self) -> None:
        """Release connections; pending writes are committed first."""

    async def add_monitor(self, monitor: Monitor) -> None:
        """Store a new monitor; :class:`~stats_service.errors.Conflict` if its name is taken."""

    async def replace_monitor(self, monitor: Monitor) -> bool:
        """Overwrite a monitor by id; False if absent; Conflict if the new name is taken."""

    async def delete_monitor(self, monitor_id: str) -> bool:
        """Remove a monitor with its results, rollups, state and lease; False if absent."""

    async def get_monitor(self, monitor_id: str) -> Monitor | None:
        """One monitor by id."""

    async def find_monitor(self, name: str) -> Monitor | None:
        """One monitor by its unique name."""

    async def list_monitors(self) -> list[Monitor]:
        """Every monitor, oldest first."""

    async def record_results(self, results: Sequence[CheckResult]) -> int:
        """Apply results whose ids are new and whose monitors exist; how many were applied."""

    async def results(
        self,
        monitor_id: str,
        *,
        since: float,
        until: float,
        limit: int,
        after: tuple[int, str] | None = None,
    ) -> list[CheckResult]:
        """Raw results with ``since <= time < until``, oldest first, after the cursor key."""

    async def rollups(
        self, monitor_id: str, granularity: Granularity, *, since: float, until: float
    ) -> list[Rollup]:
        """Rows whose bucket starts within ``[since, until)``, oldest first."""

    async def states(self) -> dict[str, MonitorState]:
        """The up/down state of every monitor that has a result."""

    async def purge(self, cutoffs: Cutoffs) -> int:
        """Delete rows older than the cutoffs; how many."""

    async def size(self) -> StoreSize:
        """Row counts."""

    async def claim_leases(
        self, holder: str, monitor_ids: Sequence[str], *, now: float, ttl_seconds: float
    ) -> set[str]:
        """Take or renew the leases of these monitors; the ids ``holder`` now holds."""

    async def release_leases(self, holder: str) -> None:
        """Give up every lease ``holder`` holds (graceful stop)."""


class MemoryMonitorStore:
    """A :class:`MonitorStore` in dicts; for tests and ``storage_backend = memory``."""

    def __init__(self) -> None:
        self._monitors: dict[str, Monitor] = {}
        self._results: dict[str, CheckResult] = {}
        self._rollups: dict[tuple[str, Granularity, int], Rollup] = {}
        self._states: dict[str, MonitorState] = {}
        self._leases: dict[str, tuple[str, float]] = {}

    async def open(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    def _check_name(self, monitor: Monitor) -> None:
        for other in self._monitors.values():
            if other.name == monitor.name and other.id != monitor.id:
                raise Conflict(
                    f"a monitor named {monitor.name!r} exists already",
                    details={"key": "name", "id": other.id},
                )

    async def add_monitor(self, monitor: Monitor) -> None:
        self._check_name(monitor)
        if monitor.id in self._monitors:
            raise Conflict(f"monitor {monitor.id} exists already", details={"key": "id"})
        self._monitors[monitor.id] = monitor

    async def replace_monitor(self, monitor: Monitor) -> bool:
        if monitor.id not in self._monitors:
            return False
        self._check_name(monitor)
        self._monitors[monitor.id] = monitor
        return True

    async def delete_monitor(self, monitor_id: str) -> bool:
        if self._monitors.pop(monitor_id, None) is None:
            return False
        self._results = {k: r for k, r in self._results.items() if r.monitor_id != monitor_id}
        self._rollups = {k: r for k, r in self._rollups.items() if k[0] != monitor_id}
        self._states.pop(monitor_id, None)
        self._leases.pop(monitor_id, None)
        return True

    async def get_monitor(self, monitor_id: str) -> Monitor | None:
        return self._monitors.get(monitor_id)

    async def find_monitor(self, name: str) -> Monitor | None:
        return next((m for m in self._monitors.values() if m.name == name), None)

    async def list_monitors(self) -> list[Monitor]:
        return sorted(self._monitors.values(), key=lambda m: (m.created_at, m.id))

    async def record_results(self, results: Sequence[CheckResult]) -> int:
        applied = 0
        for result in results:
            if result.id in self._results or result.monitor_id not in self._monitors:
                continue
            self._results[result.id] = result
            for granularity in GRANULARITIES:
                key = (result.monitor_id, granularity, bucket_start(result.time, granularity))
                row = self._rollups.get(key)
                if row is None:
                    row = self._rollups[key] = Rollup(result.monitor_id, granularity, key[2])
                row.add(result)
            state = next_state(self._states.get(result.monitor_id), result)
            if state is not None:
                self._states[result.monitor_id] = state
            applied += 1
        return applied

    async def results(
        self,
        monitor_id: str,
        *,
        since: float,
        until: float,
        limit: int,
        after: tuple[int, str] | None = None,
    ) -> list[CheckResult]:
        found = sorted(
            (
                r
                for r in self._results.values()
                if r.monitor_id == monitor_id
                and since <= r.time < until
                and (after is None or time_key(r) > after)
            ),
            key=time_key,
        )
        return found[:limit]

    async def rollups(
        self, monitor_id: str, granularity: Granularity, *, since: float, until: float
    ) -> list[Rollup]:
        rows = [
            _copy(row)
            for (mid, gran, start), row in self._rollups.items()
            if mid == monitor_id and gran == granularity and since <= start < until
        ]
        return sorted(rows, key=lambda row: row.start)

    async def states(self) -> dict[str, MonitorState]:
        return dict(self._states)

    async def purge(self, cutoffs: Cutoffs) -> int:
        before = len(self._results) + len(self._rollups)
        self._results = {k: r for k, r in self._results.items() if r.time >= cutoffs.results_before}
        limits = {"minute": cutoffs.minute_before, "hour": cutoffs.hour_before}
        self._rollups = {k: r for k, r in self._rollups.items() if k[2] >= limits[k[1]]}
        return before - len(self._results) - len(self._rollups)

    async def size(self) -> StoreSize:
        return StoreSize(
            monitors=len(self._monitors),
            results=len(self._results),
            minute_rows=sum(1 for k in self._rollups if k[1] == "minute"),
            hour_rows=sum(1 for k in self._rollups if k[1] == "hour"),
        )

    async def claim_leases(
        self, holder: str, monitor_ids: Sequence[str], *, now: float, ttl_seconds: float
    ) -> set[str]:
        held: set[str] = set()
        for monitor_id in monitor_ids:
            current = self._leases.get(monitor_id)
            if current is None or current[0] == holder or current[1] <= now:
                self._leases[monitor_id] = (holder, now + ttl_seconds)
                held.add(monitor_id)
        return held

    async def release_leases(self, holder: str) -> None:
        self._leases = {k: v for k, v in self._leases.items() if v[0] != holder}


def _copy(row: Rollup) -> Rollup:
    return Rollup.from_columns(row.columns())
