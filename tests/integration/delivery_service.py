"""A stats-service process on the ``influxdb`` backend behind the durable outbox.

``DeliveryServiceProcess`` is a ``ServiceProcess`` (the real ``stats-service
serve``) configured by environment variables only; ``delivery_env`` lists them.
"""

from __future__ import annotations

from pathlib import Path

from service_process import ServiceProcess

__all__ = ["DeliveryServiceProcess", "delivery_env"]

# Settings the factory reads for the durable store (STATS_<NAME>), with test defaults.
_DELIVERY_SETTINGS: dict[str, str] = {
    "outbox_max_pending_events": "1000000",
    "outbox_max_pending_bytes": "1073741824",
    "outbox_dedupe_window_seconds": "86400",
    "forward_batch_max_events": "5000",
    "forward_batch_max_bytes": "8388608",
    "forward_linger_seconds": "0.2",
    "forward_backoff_initial_seconds": "0.1",
    "forward_backoff_max_seconds": "1.0",
    "forward_close_timeout_seconds": "5",
}


def delivery_env(influx_url: str, database: str, **overrides: object) -> dict[str, str]:
    """Environment for a service on InfluxDB ``database``; ``overrides`` by setting name."""
    values: dict[str, str] = {
        "storage_backend": "influxdb",
        "influxdb_url": influx_url,
        "influxdb_database": database,
        "influxdb_timeout_seconds": "5",
        **_DELIVERY_SETTINGS,
    }
    values.update({name: str(value) for name, value in overrides.items()})
    return {f"STATS_{name.upper()}": value for name, value in values.items()}


class DeliveryServiceProcess(ServiceProcess):
    """A service process on the durable InfluxDB store (configured by ``delivery_env``)."""

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.sqlite3"
