"""Builds the configured storage backend from settings (configuration only).

The InfluxDB backends always sit behind the durable outbox: a 2xx means the
event is committed locally, and the forwarder delivers it to InfluxDB.
"""

from __future__ import annotations

from stats_service.delivery.forwarder import ForwarderMetrics
from stats_service.settings import Settings
from stats_service.storage.base import EventStore

__all__ = ["OUTBOX_FILE", "build_store"]

OUTBOX_FILE = "outbox.sqlite3"
"""The outbox's file name under the data dir (the CLI opens it too)."""

# Backends are imported when chosen: a service on the embedded store never
# loads an HTTP client or influxdb-client.
# ruff: noqa: PLC0415


def build_store(settings: Settings, *, metrics: ForwarderMetrics | None = None) -> EventStore:
    """The backend ``settings.storage_backend`` names."""
    backend = settings.storage_backend
    if backend == "memory":
        from stats_service.storage.memory import MemoryStore

        return MemoryStore()
    if backend == "embedded":
        from stats_service.storage.embedded import EmbeddedStore

        return EmbeddedStore(settings.data_dir / "events.sqlite3")
    from stats_service.delivery.backoff import Backoff
    from stats_service.storage.durable import DeliveryConfig, DurableStore

    inner = _influx_store(settings)
    return DurableStore(
        inner,
        settings.data_dir / OUTBOX_FILE,
        metrics=metrics,
        config=DeliveryConfig(
            max_pending_events=settings.outbox_max_pending_events,
            max_pending_bytes=settings.outbox_max_pending_bytes,
            dedupe_window_seconds=settings.outbox_dedupe_window_seconds,
            batch_max_events=settings.forward_batch_max_events,
            batch_max_bytes=settings.forward_batch_max_bytes,
            linger_seconds=settings.forward_linger_seconds,
            close_timeout_seconds=settings.forward_close_timeout_seconds,
            backoff=Backoff(
                initial_seconds=settings.forward_backoff_initial_seconds,
                max_seconds=settings.forward_backoff_max_seconds,
            ),
        ),
    )


def _influx_store(settings: Settings) -> EventStore:
    if settings.storage_backend == "influxdb":
        from stats_service.storage.influx.config import InfluxDBConfig
        from stats_service.storage.influx.v1 import InfluxDBStore

        return InfluxDBStore(
            InfluxDBConfig(
                url=settings.influxdb_url,
                database=settings.influxdb_database,
                retention_policy=settings.influxdb_retention_policy or None,
                username=settings.influxdb_username or None,
                password=settings.influxdb_password or None,
                verify_tls=settings.influxdb_verify_tls,
                timeout_seconds=settings.influxdb_timeout_seconds,
                measurement=settings.measurement,
            )
        )
    from stats_service.storage.influx.config import InfluxDB2Config
    from stats_service.storage.influx.v2 import InfluxDB2Store

    return InfluxDB2Store(
        InfluxDB2Config(
            url=settings.influxdb_url,
            org=settings.influxdb_org,
            bucket=settings.influxdb_bucket,
            token=settings.influxdb_token,
            verify_tls=settings.influxdb_verify_tls,
            timeout_seconds=settings.influxdb_timeout_seconds,
            measurement=settings.measurement,
        )
    )
