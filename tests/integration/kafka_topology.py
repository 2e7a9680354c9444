"""The Kafka topology as real processes: API replicas that produce, forwarders that consume.

``KafkaTopology`` starts ``stats-service serve`` replicas (``queue = kafka``)
on their own ports, sharing one signing key and one access file so a token
works on every replica, and ``stats-service forward`` members of one consumer
group, each serving ``/metrics`` on its own port (the readiness signal).
``EventLoad`` posts numbered events through the replicas from a few threads
and records what each request answered; ``influx_ids`` reads back what
InfluxDB stored.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
from service_process import ServiceProcess, _cli

from stats_service.events.model import format_time

__all__ = [
    "EventLoad",
    "ForwarderProcess",
    "KafkaTopology",
    "Outcome",
    "influx_ids",
    "kafka_env",
    "wait_for",
]

T0 = 1_763_850_000_000_000_000
BATCH = 500


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

    def ready(self) -> bool:
        """Whether ``/metrics`` answers 200 now."""
        try:
            return httpx.get(f"{self.url}/metrics", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    def start_error(self, exit_code: int | None, timeout_seconds: float | None) -> Exception:
        if timeout_seconds is None:
            return RuntimeError(f"stats-service forward exited early:\n{self.log_tail()}")
        return RuntimeError(f"stats-service forward did not serve /metrics:\n{self.log_tail()}")

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


def influx_ids(url: str, database: str) -> list[str]:
    """Every stored point's event id (one per point)."""
    ids: list[str] = []
    response = httpx.post(
        f"{url}/query",
        data={"q": 'SELECT "event_id" FROM "analytics"', "db": database, "chunked": "false"},
        timeout=60,
    )
    response.raise_for_status()
    for series in response.json()["results"][0].get("series") or []:
        ids.extend(row[1] for row in series["values"])
    return ids


def wait_for(predicate: Callable[[], bool], timeout_seconds: float, what: str) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout_seconds``."""
    deadline = time.monotonic() + timeout_seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_seconds} s")
        time.sleep(0.25)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request of the load: when it was sent and answered, and what it answered."""

    started: float
    ended: float
    status: int | str
    retry_after: str | None


class EventLoad:
    """Posts numbered events in batches round-robin over the replicas; records outcomes.

    At most ``total`` events; ``stop()`` ends it earlier (after the requests in flight).
    """

    def __init__(self, urls: list[str], token: str, total: int, threads: int = 3) -> None:
        self.urls = urls
        self.token = token
        self.total = total
        self.run_id = uuid.uuid4().hex[:8]
        self.acknowledged: set[str] = set()
        self.unknown: set[str] = set()
        self.statuses: dict[int | str, int] = {}
        self.outcomes: list[Outcome] = []
        self._numbers = itertools.count(0, BATCH)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def event_id(self, number: int) -> str:
        return f"{self.run_id}-{number:07d}"

    def _run(self, index: int) -> None:
        headers = {"Authorization": f"Token {self.token}", "Content-Type": "application/json"}
        with httpx.Client(headers=headers, timeout=30) as client:
            for request in itertools.count(index):
                start = next(self._numbers)
                if start >= self.total or self._stopping.is_set():
                    return
                numbers = range(start, min(start + BATCH, self.total))
                ids = [self.event_id(n) for n in numbers]
                body = orjson.dumps(
                    [
                        {
                            "event": "load",
                            "uid": f"user-{n % 97}",
                            "event_id": self.event_id(n),
                            "time": format_time(T0 + n * 1000),
                            "n": n,
                        }
                        for n in numbers
                    ]
                )
                url = self.urls[request % len(self.urls)]
                started = time.monotonic()
                retry_after = None
                try:
                    response = client.post(f"{url}/log/events", content=body)
                    status: int | str = response.status_code
                    retry_after = response.headers.get("Retry-After")
                except httpx.TransportError:
                    status = "transport"
                outcome = Outcome(started, time.monotonic(), status, retry_after)
                with self._lock:
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                    self.outcomes.append(outcome)
                    (self.acknowledged if status == 200 else self.unknown).update(ids)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def join(self, timeout_seconds: float) -> None:
        for thread in self._threads:
            thread.join(timeout_seconds)
            assert not thread.is_alive(), "the load did not finish in time"

    @property
    def done(self) -> int:
        with self._lock:
            return len(self.acknowledged) + len(self.unknown)

    def count(self, status: int | str) -> int:
        with self._lock:
            return self.statuses.get(status, 0)
