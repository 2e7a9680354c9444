"""The monitors subsystem's one entry point: :class:`MonitorsComponent`.

It is a :class:`~stats_service.api.component.Component`: the app builds it
from settings (:mod:`stats_service.subsystems`), includes its ``routers()``,
calls ``await start(core)`` when serving starts and ``await stop()`` at
shutdown; ``health()`` answers the readiness probe and ``status()`` says what
it is doing. ``open(ingestor, registry=...)`` starts it without an app (the
``monitor-worker`` command, tests). Inside:
the store, the checker, the scheduler, and a maintenance loop that renews
leases and picks up monitors other replicas changed (every third of the lease)
and purges old rows (every ``monitors_retention_interval_seconds``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from prometheus_client import CollectorRegistry

from stats_service.api.component import ComponentHealth
from stats_service.api.dependencies import Components
from stats_service.delivery.kafka.producer import EventProducer
from stats_service.ingest import Ingestor
from stats_service.monitors.checker import Checker
from stats_service.monitors.metrics import MonitorMetrics
from stats_service.monitors.model import CheckResult, Monitor
from stats_service.monitors.results_topic import TopicResultRecorder
from stats_service.monitors.routes import build_router
from stats_service.monitors.scheduler import Clock, Scheduler, SystemClock
from stats_service.monitors.service import MonitorService, Retention
from stats_service.monitors.store import MemoryMonitorStore, MonitorStore
from stats_service.settings import Settings

__all__ = ["IngestSink", "MonitorsComponent", "build_monitor_store"]

_log = logging.getLogger(__name__)

MONITORS_FILE = "monitors.sqlite3"
_IDENTITY = "monitors"


def build_monitor_store(settings: Settings) -> MonitorStore:
    """The store the settings name (``auto``: memory with the memory backend, else SQLite)."""
    kind = settings.monitors_store
    if kind == "auto":
        kind = "memory" if settings.storage_backend == "memory" else "sqlite"
    if kind == "memory":
        return MemoryMonitorStore()
    if kind == "postgres":
        from stats_service.monitors.postgres_store import PostgresMonitorStore  # noqa: PLC0415

        return PostgresMonitorStore(settings.monitors_database_url)
    from stats_service.monitors.sqlite_store import SQLiteMonitorStore  # noqa: PLC0415

    return SQLiteMonitorStore(settings.data_dir / MONITORS_FILE)


class IngestSink:
    """Logs each result as a point of ``measurement`` through the app's :class:`Ingestor`."""

    def __init__(self, ingestor: Ingestor, measurement: str) -> None:
        self._ingestor = ingestor
        self._measurement = measurement

    async def publish(self, monitor: Monitor, result: CheckResult) -> None:
        fields: dict[str, Any] = {"status": result.status_code or 0, "ok": result.ok}
        if result.latency_us is not None:
            fields["latency"] = result.latency_us / 1000
        if result.reason is not None:
            fields["reason"] = result.reason.value
        point = {
            "measurement": self._measurement,
            "tags": {"monitor_id": monitor.id, "monitor": monitor.name},
            "fields": fields,
            "time": result.time,
            "event_id": result.id,
        }
        await self._ingestor.log_points([point], _IDENTITY)


class MonitorsComponent:
    """Monitors for one app: build from settings, ``start()``, ``stop()``."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: MonitorStore | None = None,
        clock: Clock | None = None,
        trust: ssl.SSLContext | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._trust = trust
        self._service: MonitorService | None = None
        self._metrics: MonitorMetrics | None = None
        self._registry: CollectorRegistry | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._results_producer: EventProducer | None = None
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.router: APIRouter = build_router(self.service)

    def service(self) -> MonitorService:
        """The running service; 503 before ``start()``."""
        if self._service is None:
            from stats_service.errors import ServiceUnavailable  # noqa: PLC0415

            raise ServiceUnavailable("monitors are not running")
        return self._service

    @property
    def name(self) -> str:
        """The subsystem's name in :mod:`stats_service.subsystems` and readiness answers."""
        return "monitors"

    def routers(self) -> Sequence[APIRouter]:
        """``/monitors`` and everything under it."""
        return (self.router,)

    async def start(self, core: Components) -> None:
        """Start with the app: results go to its ingestor, metrics to its registry."""
        await self.open(core.ingestor, registry=getattr(core.metrics, "registry", None))

    async def open(
        self, ingestor: Ingestor | None = None, *, registry: CollectorRegistry | None = None
    ) -> None:
        """Open the store, schedule the monitors this replica holds, start the loops."""
        settings = self._settings
        store = self._store if self._store is not None else build_monitor_store(settings)
        await store.open()
        if registry is not None and registry is not self._registry:
            self._registry, self._metrics = registry, MonitorMetrics(registry)
        checker = Checker(
            max_body_bytes=settings.monitors_max_body_bytes,
            max_connections=settings.monitors_max_concurrency,
            trust=self._trust,
            clock=self._clock.now,
        )
        service = MonitorService(
            store,
            checker,
            metrics=self._metrics,
            sink=None if ingestor is None else IngestSink(ingestor, settings.monitors_measurement),
            holder=self.holder,
            lease_seconds=settings.monitors_lease_seconds,
            retention=Retention(
                settings.monitors_results_retention_days,
                settings.monitors_minute_retention_days,
                settings.monitors_hour_retention_days,
            ),
            clock=self._clock.now,
            recorder=self._results_recorder(settings),
        )
        scheduler = Scheduler(
            service.run_scheduled,
            clock=self._clock,
            max_concurrency=settings.monitors_max_concurrency,
        )
        service.scheduler = scheduler
        self._service = service
        self._stopping = asyncio.Event()
        await service.sync()
        scheduler.start()
        self._maintenance = asyncio.create_task(self._maintain(), name="monitor-maintenance")

    def _results_recorder(self, settings: Settings) -> TopicResultRecorder | None:
        """With a results topic, results are produced there (applied by the aggregators)."""
        if not settings.kafka_monitor_results_topic:
            return None
        from stats_service.backends import kafka_config  # noqa: PLC0415 - kafka mode only

        producer = EventProducer(kafka_config(settings))
        producer.start()
        self._results_producer = producer
        return TopicResultRecorder(producer, settings.kafka_monitor_results_topic)

    async def stop(self, timeout_seconds: float = 10.0) -> None:
        """Stop scheduling, let checks in flight finish (within the limit), release leases."""
        service = self._service
        if service is None:
            return
        self._stopping.set()
        if self._maintenance is not None:
            await self._maintenance
            self._maintenance = None
        if service.scheduler is not None:
            await service.scheduler.stop(timeout_seconds)
        try:
            await service.store.release_leases(self.holder)
        finally:
            await service.checker.aclose()
            await service.store.close()
            self._service = None
            producer, self._results_producer = self._results_producer, None
            if producer is not None:
                await asyncio.to_thread(producer.stop, timeout_seconds)

    async def health(self) -> ComponentHealth:
        """Ready while the scheduler runs."""
        if self.status()["running"]:
            return ComponentHealth(ok=True)
        return ComponentHealth(ok=False, detail="monitors are not running")

    def status(self) -> dict[str, Any]:
        """What the subsystem is doing, for health pages and tests."""
        service = self._service
        if service is None or service.scheduler is None:
            return {"running": False}
        stats = service.scheduler.stats
        return {
            "running": True,
            "scheduled": len(service.scheduler.scheduled),
            "checks_started": stats.started,
            "skipped_overlap": stats.skipped_overlap,
            "missed_slots": stats.missed_slots,
            "sink_failures": service.sink_failures,
        }

    async def _maintain(self) -> None:
        service = self.service()
        settings = self._settings
        sync_every = settings.monitors_lease_seconds / 3
        next_sync = self._clock.now() + sync_every
        next_purge = self._clock.now()
        while not self._stopping.is_set():
            now = self._clock.now()
            try:
                if now >= next_purge:
                    next_purge = now + settings.monitors_retention_interval_seconds
                    removed = await service.purge()
                    if removed:
                        _log.info("monitor retention removed %d rows", removed)
                if now >= next_sync:
                    next_sync = now + sync_every
                    await service.sync()
            except Exception:  # noqa: BLE001 - the loop must survive a failing store
                _log.exception("monitor maintenance failed; retrying at the next round")
            await self._clock.sleep_until(min(next_sync, next_purge), self._stopping)
