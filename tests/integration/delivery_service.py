"""A stats-service process on the ``influxdb`` backend behind the durable outbox.

``DeliveryServiceProcess`` is a ``ServiceProcess`` configured by environment
variables only (``delivery_env`` lists them). When the settings know the
delivery fields (the factory builds the durable store), it runs the real
``stats-service serve``; until then it runs this file as a script, which
builds exactly that app: ``create_app(settings, store=DurableStore(...))``
over an ``InfluxDBStore``, reading the same variables.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
from service_process import ServiceProcess

__all__ = ["DeliveryServiceProcess", "delivery_env", "real_cli_serves_influxdb"]

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


def real_cli_serves_influxdb() -> bool:
    """Whether ``stats-service serve`` itself builds the durable InfluxDB store."""
    from stats_service.settings import Settings  # noqa: PLC0415 - only the test process needs it

    names = {f.name for f in dataclasses.fields(Settings)}
    return set(_DELIVERY_SETTINGS) <= names


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
    """A service process on the durable InfluxDB store (real CLI when it is wired)."""

    def command(self) -> list[str]:
        if real_cli_serves_influxdb():
            exe = Path(sys.executable).parent / "stats-service"
            return [str(exe), "serve"]
        return [sys.executable, str(Path(__file__).resolve())]

    def start(self, timeout_seconds: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), env=self.env(), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"stats-service exited early:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/ping", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"stats-service did not answer /ping in time:\n{self.log_tail()}")

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.sqlite3"


def _env_float(env: Mapping[str, str], name: str) -> float:
    return float(env.get(f"STATS_{name.upper()}", _DELIVERY_SETTINGS[name]))


def _main() -> None:
    """Serve the app the wired factory will build, from the environment."""
    import uvicorn  # noqa: PLC0415

    from stats_service.app import create_app  # noqa: PLC0415
    from stats_service.delivery.backoff import Backoff  # noqa: PLC0415
    from stats_service.settings import load_settings  # noqa: PLC0415
    from stats_service.storage.durable import DeliveryConfig, DurableStore  # noqa: PLC0415
    from stats_service.storage.influxdb import InfluxDBConfig, InfluxDBStore  # noqa: PLC0415

    env = os.environ
    settings = load_settings(None, env)
    backend = InfluxDBStore(
        InfluxDBConfig(
            url=settings.influxdb_url,
            database=settings.influxdb_database,
            timeout_seconds=settings.influxdb_timeout_seconds,
            measurement=settings.measurement,
        )
    )
    config = DeliveryConfig(
        max_pending_events=int(_env_float(env, "outbox_max_pending_events")),
        max_pending_bytes=int(_env_float(env, "outbox_max_pending_bytes")),
        dedupe_window_seconds=_env_float(env, "outbox_dedupe_window_seconds"),
        batch_max_events=int(_env_float(env, "forward_batch_max_events")),
        batch_max_bytes=int(_env_float(env, "forward_batch_max_bytes")),
        linger_seconds=_env_float(env, "forward_linger_seconds"),
        close_timeout_seconds=_env_float(env, "forward_close_timeout_seconds"),
        backoff=Backoff(
            initial_seconds=_env_float(env, "forward_backoff_initial_seconds"),
            max_seconds=_env_float(env, "forward_backoff_max_seconds"),
        ),
    )
    store = DurableStore(backend, settings.data_dir / "outbox.sqlite3", config=config)
    uvicorn.run(
        create_app(settings, store=store),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        server_header=False,
    )


if __name__ == "__main__":
    _main()
