"""The Kafka topology as real processes: API replicas that produce, forwarders that consume.

``KafkaTopology`` starts ``stats-service serve`` replicas (``queue = kafka``)
on their own ports, sharing one signing key and one access file so a token
works on every replica, and ``stats-service forward`` members of one consumer
group, each serving ``/metrics`` on its own port (the readiness signal).
"""

from __future__ import annotations

import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from service_process import ServiceProcess, _cli

__all__ = ["ForwarderProcess", "KafkaTopology", "kafka_env"]


def kafka_env(
    *, bootstrap: str, topic: str, influx_url: str, database: str, **overrides: object
) -> dict[str, str]:
    """The environment of a replica or forwarder on this topic and InfluxDB database."""
    values: dict[str, object] = {
        "storage_backend": "influxdb",
        "influxdb_url": influx_url,
        "influxdb_database": database,
        "influxdb_timeout_seconds": 5,
        "queue": "kafka",
        "kafka_bootstrap_servers": bootstrap,
        "kafka_topic": topic,
        "kafka_dead_letter_topic": f"{topic}-dead",
        "kafka_consumer_group": f"{topic}-forwarders",
        "kafka_produce_timeout_seconds": 3,
        "forward_linger_seconds": 0.2,
        "forward_backoff_initial_seconds": 0.1,
        "forward_backoff_max_seconds": 1.0,
        "forward_close_timeout_seconds": 5,
    }
    values.update(overrides)
    return {f"STATS_{name.upper()}": str(value) for name, value in values.items()}


class ForwarderProcess(ServiceProcess):
    """``stats-service forward``; ready once its ``/metrics`` answers."""

    def command(self) -> list[str]:
        return [*_cli(), "forward"]

    def env(self) -> dict[str, str]:
        env = super().env()
        env["STATS_KAFKA_FORWARDER_METRICS_PORT"] = str(self.port)
        return env

    def start(self, timeout_seconds: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), env=self.env(), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"stats-service forward exited early:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/metrics", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"stats-service forward did not serve /metrics:\n{self.log_tail()}")

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=5).text


@dataclass
class KafkaTopology:
    """N replicas and M forwarders under ``root``, configured by ``env``."""

    root: Path
    env: dict[str, str]
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    replicas: list[ServiceProcess] = field(default_factory=list)
    forwarders: list[ForwarderProcess] = field(default_factory=list)

    def _shared(self) -> dict[str, str]:
        return {**self.env, "STATS_ACCESS_FILE": str(self.root / "access.json")}

    def add_replica(self) -> ServiceProcess:
        index = len(self.replicas)
        replica = ServiceProcess(
            data_dir=self.root / f"api-{index}",
            extra_env=self._shared(),
            secret_key=self.secret_key,
        )
        replica.start()
        self.replicas.append(replica)
        return replica

    def add_forwarder(self) -> ForwarderProcess:
        index = len(self.forwarders)
        forwarder = ForwarderProcess(
            data_dir=self.root / f"forward-{index}",
            extra_env=self._shared(),
            secret_key=self.secret_key,
        )
        forwarder.start()
        self.forwarders.append(forwarder)
        return forwarder

    def token(self, identity: str = "loadgen") -> str:
        return self.replicas[0].token(identity, "write", "read")

    def stop(self) -> None:
        for process in [*self.replicas, *self.forwarders]:
            process.stop()
