"""The monitors domain: manage monitors, run their checks, record and report results.

It knows nothing of HTTP. Routes and the CLI call it; the scheduler calls
:meth:`MonitorService.run_scheduled`. Every result goes to the store (raw row,
rollups, state), to the Prometheus series and, as an event, to the service's
normal durable ingest path (:class:`ResultSink`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pydantic import ValidationError

from stats_service.errors import InvalidInput, NotFound
from stats_service.monitors.aggregator import Granularity, Rollup
from stats_service.monitors.checker import Checker
from stats_service.monitors.metrics import MonitorMetrics
from stats_service.monitors.model import (
    REDACTED,
    CheckResult,
    Monitor,
    MonitorPatch,
    MonitorSpec,
    new_monitor_id,
)
from stats_service.monitors.results_topic import ResultRecorder
from stats_service.monitors.scheduler import Scheduler
from stats_service.monitors.store import Cutoffs, MonitorState, MonitorStore

__all__ = ["STATUS_WINDOWS", "MonitorService", "ResultSink", "Retention", "invalid_spec"]

_log = logging.getLogger(__name__)

STATUS_WINDOWS = {"24h": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}
"""The windows ``/status`` reports uptime and percentiles over (read from hour rows)."""


class ResultSink(Protocol):
    """Where results go besides the store (the ingest path, as events)."""

    async def publish(self, monitor: Monitor, result: CheckResult) -> None:
        """Hand one result on; may raise, which is logged and counted, never fatal."""


class Retention:
    """How long each kind of row is kept, in days."""

    def __init__(self, results_days: float, minute_days: float, hour_days: float) -> None:
        self.results_days = results_days
        self.minute_days = minute_days
        self.hour_days = hour_days

    def cutoffs(self, now: float) -> Cutoffs:
        """The purge cutoffs at ``now``."""
        return Cutoffs(
            results_before=now - self.results_days * 86_400,
            minute_before=now - self.minute_days * 86_400,
            hour_before=now - self.hour_days * 86_400,
        )


def invalid_spec(exc: ValidationError, prefix: str = "") -> InvalidInput:
    """A 422 naming the first bad field of a spec, every problem in the details."""
    problems = [
        {
            "location": ".".join(str(part) for part in (prefix, *err["loc"]) if part != ""),
            "message": err["msg"],
        }
        for err in exc.errors(include_url=False)
    ]
    first = problems[0] if problems else {"location": prefix or "monitor", "message": "invalid"}
    return InvalidInput(f"{first['location']}: {first['message']}", details={"problems": problems})


class MonitorService:
    """Monitors in one store, checked by one checker on one scheduler."""

    def __init__(
        self,
        store: MonitorStore,
        checker: Checker,
        *,
        metrics: MonitorMetrics | None,
        sink: ResultSink | None,
        holder: str,
        lease_seconds: float,
        retention: Retention,
        clock: Callable[[], float] = time.time,
        recorder: ResultRecorder | None = None,
    ) -> None:
        """``recorder``: where results are recorded (default: the store; see
        :mod:`.results_topic` for the Kafka topic)."""
        self.store = store
        self.recorder: ResultRecorder = recorder or store
        self.checker = checker
        self.metrics = metrics
        self.sink = sink
        self.holder = holder
        self.lease_seconds = lease_seconds
        self.retention = retention
        self.clock = clock
        self.scheduler: Scheduler | None = None
        self.sink_failures = 0
        self._cache: dict[str, Monitor] = {}

    # -- managing monitors ---------------------------------------------------

    async def create(self, spec: MonitorSpec, *, monitor_id: str | None = None) -> Monitor:
        """Store a new monitor and schedule it here."""
        now = self.clock()
        monitor = Monitor(
            id=monitor_id or new_monitor_id(), spec=spec, created_at=now, updated_at=now
        )
        await self.store.add_monitor(monitor)
        await self.sync()
        return monitor

    async def get(self, monitor_id: str) -> Monitor:
        """One monitor; 404 when unknown."""
        monitor = await self.store.get_monitor(monitor_id)
        if monitor is None:
            raise NotFound(f"no monitor {monitor_id!r}", details={"key": "id"})
        return monitor

    async def listing(
        self, *, state: str | None = None, tag: str | None = None
    ) -> list[dict[str, Any]]:
        """Every monitor with its state; optionally only one state or tag."""
        states = await self.store.states()
        out: list[dict[str, Any]] = []
        for monitor in await self.store.list_monitors():
            current = states.get(monitor.id)
            if tag is not None and tag not in monitor.spec.tags:
                continue
            if not _matches(state, monitor, current):
                continue
            out.append({**monitor.public(), "state": _state_name(monitor, current)})
        return out

    async def update(self, monitor_id: str, patch: MonitorPatch) -> Monitor:
        """Change some fields; the merged spec is validated as a whole (422 names the field)."""
        monitor = await self.get(monitor_id)
        merged = monitor.spec.model_dump(mode="json")
        merged.update(patch.model_dump(exclude_unset=True))
        if isinstance(merged.get("headers"), dict):
            # A header sent back as shown ("<redacted>") keeps its stored value.
            merged["headers"] = {
                name: monitor.spec.headers.get(name, value) if value == REDACTED else value
                for name, value in merged["headers"].items()
            }
        try:
            spec = MonitorSpec.model_validate(merged)
        except ValidationError as exc:
            raise invalid_spec(exc, "body") from None
        changed = monitor.model_copy(update={"spec": spec, "updated_at": self.clock()})
        if not await self.store.replace_monitor(changed):
            raise NotFound(f"no monitor {monitor_id!r}", details={"key": "id"})
        if self.metrics is not None and spec.name != monitor.name:
            self.metrics.forget(monitor.name)
        await self.sync()
        return changed

    async def delete(self, monitor_id: str) -> None:
        """Remove a monitor and its data; a check in flight finishes and is discarded."""
        monitor = await self.get(monitor_id)
        if not await self.store.delete_monitor(monitor_id):
            raise NotFound(f"no monitor {monitor_id!r}", details={"key": "id"})
        if self.metrics is not None:
            self.metrics.forget(monitor.name)
        await self.sync()

    async def set_paused(self, monitor_id: str, paused: bool) -> Monitor:
        """Pause or resume; doing it twice changes nothing."""
        monitor = await self.get(monitor_id)
        if monitor.paused == paused:
            return monitor
        changed = monitor.model_copy(update={"paused": paused, "updated_at": self.clock()})
        await self.store.replace_monitor(changed)
        await self.sync()
        return changed

    # -- checks ----------------------------------------------------------------

    async def run_now(self, monitor_id: str) -> CheckResult:
        """Check a monitor at once (paused or not) and record the result."""
        monitor = await self.get(monitor_id)
        return await self._check(monitor)

    async def run_scheduled(self, monitor_id: str) -> None:
        """The scheduler's callback: check a monitor this replica holds."""
        monitor = self._cache.get(monitor_id)
        if monitor is not None and not monitor.paused:
            await self._check(monitor)

    async def _check(self, monitor: Monitor) -> CheckResult:
        result = await self.checker.check(monitor)
        await self.record([(monitor, result)])
        return result

    async def record(self, items: Sequence[tuple[Monitor, CheckResult]]) -> int:
        """Store results, then count them and hand them to the sink; how many were new."""
        applied = await self.recorder.record_results([result for _, result in items])
        if not applied:
            return 0
        for monitor, result in items:
            if self.metrics is not None:
                self.metrics.record(monitor.name, result)
            if self.sink is not None:
                try:
                    await self.sink.publish(monitor, result)
                except Exception as exc:  # noqa: BLE001 - a full outbox must not stop checks
                    self.sink_failures += 1
                    _log.warning("monitor result %s not ingested: %s", result.id, exc)
        return applied

    # -- reading -------------------------------------------------------------------

    async def results(
        self,
        monitor_id: str,
        *,
        since: float,
        until: float,
        limit: int,
        after: tuple[int, str] | None,
    ) -> list[CheckResult]:
        """Raw results of one monitor (404 when unknown)."""
        await self.get(monitor_id)
        return await self.store.results(
            monitor_id, since=since, until=until, limit=limit, after=after
        )

    async def rollups(
        self, monitor_id: str, granularity: Granularity, *, since: float, until: float
    ) -> list[Rollup]:
        """Rollup rows of one monitor (404 when unknown)."""
        await self.get(monitor_id)
        return await self.store.rollups(monitor_id, granularity, since=since, until=until)

    async def status(self, monitor_id: str) -> dict[str, Any]:
        """Up/down, since when, the last result, and uptime and percentiles per window."""
        monitor = await self.get(monitor_id)
        state = (await self.store.states()).get(monitor_id)
        now = self.clock()
        longest = max(STATUS_WINDOWS.values())
        rows = await self.store.rollups(
            monitor_id, "hour", since=(now - longest) // 3600 * 3600, until=now + 3600
        )
        windows: dict[str, Any] = {}
        for label, seconds in STATUS_WINDOWS.items():
            merged = Rollup(monitor_id, "hour", 0)
            first_hour = (now - seconds) // 3600 * 3600
            for row in rows:
                if row.start >= first_hour:
                    merged.merge(row)
            windows[label] = {
                "checks": merged.count,
                "uptime_percent": 100 * merged.ok_count / merged.count if merged.count else None,
                "p50_ms": merged.quantile_ms(0.5),
                "p95_ms": merged.quantile_ms(0.95),
                "p99_ms": merged.quantile_ms(0.99),
            }
        return {
            "id": monitor.id,
            "name": monitor.name,
            "state": _state_name(monitor, state),
            "up": None if state is None else state.up,
            "since": None if state is None else state.since,
            "last_result": None if state is None else state.last.public(),
            "windows": windows,
        }

    # -- replicas, schedule, retention ------------------------------------------------

    async def sync(self) -> None:
        """Reload monitors, renew this replica's leases, and schedule exactly the held ones."""
        monitors = await self.store.list_monitors()
        self._cache = {m.id: m for m in monitors}
        active = [m.id for m in monitors if not m.paused]
        held = await self.store.claim_leases(
            self.holder, active, now=self.clock(), ttl_seconds=self.lease_seconds
        )
        scheduler = self.scheduler
        if scheduler is None:
            return
        for monitor_id in scheduler.scheduled - held:
            scheduler.unschedule(monitor_id)
        for monitor_id in held:
            scheduler.schedule(monitor_id, self._cache[monitor_id].spec.interval_seconds)

    async def purge(self) -> int:
        """Enforce retention once; rows removed."""
        return await self.store.purge(self.retention.cutoffs(self.clock()))


def _state_name(monitor: Monitor, state: MonitorState | None) -> str:
    if monitor.paused:
        return "paused"
    if state is None:
        return "pending"
    return "up" if state.up else "down"


def _matches(wanted: str | None, monitor: Monitor, state: MonitorState | None) -> bool:
    if wanted is None:
        return True
    if wanted == "active":
        return not monitor.paused
    return _state_name(monitor, state) == wanted
