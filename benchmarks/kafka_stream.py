"""The live stream across Kafka replicas: post to one replica, receive on another.

One influxd and one KRaft broker (``make kafka``). Baseline, in the same
run: one ``serve`` process on the single-node outbox path, one SSE
subscriber on it, events posted to it. Then two API replicas on a Kafka
topic: the subscriber streams from replica A while the events are posted to
replica B, so each event goes B -> broker -> A's tail -> A's stream. Events
are posted one ``POST /log/event`` at a time, ``rate_events_per_s`` of them
per second for ``events``; each event's latency is from just before its
request was sent to the moment its frame was read. Reported: p50 and p99 in
milliseconds of both paths, and the ratio of the Kafka p50 to the outbox's.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks.report import percentile, ratio

_INTEGRATION = Path(__file__).resolve().parent.parent / "tests" / "integration"
if str(_INTEGRATION) not in sys.path:
    sys.path.insert(0, str(_INTEGRATION))

from delivery_service import DeliveryServiceProcess, delivery_env  # noqa: E402
from influxd import InfluxDServer, influxd_executable  # noqa: E402
from kafka_broker import KafkaBroker, java_executable, kafka_classpath  # noqa: E402
from kafka_topology import KafkaTopology, kafka_env  # noqa: E402

__all__ = ["KafkaStreamBenchConfig", "KafkaStreamUnavailable", "run_kafka_stream"]


class KafkaStreamUnavailable(RuntimeError):
    """Java, the Kafka classpath or influxd is missing: the section is skipped."""


@dataclass(frozen=True, slots=True)
class KafkaStreamBenchConfig:
    """How many events, how fast, and how long to wait for the last frame."""

    events: int = 300
    rate_events_per_s: int = 100
    timeout_seconds: float = 30.0


class _Arrivals:
    """Reads one SSE stream on a thread and notes when each event id arrives."""

    def __init__(self, url: str, token: str) -> None:
        self._url, self._token = url, token
        self.at: dict[str, float] = {}
        self.opened = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> _Arrivals:
        self._thread.start()
        if not self.opened.wait(10):
            raise RuntimeError("the stream did not open")
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(15)

    def _read(self) -> None:
        headers = {"Authorization": f"Token {self._token}"}
        timeout = httpx.Timeout(10.0, read=1.0)
        with (
            httpx.Client(timeout=timeout) as client,
            client.stream("GET", f"{self._url}/log/stream", headers=headers) as response,
        ):
            self.opened.set()
            try:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        event_id = orjson.loads(line[6:])["event_id"]
                        self.at.setdefault(event_id, time.perf_counter())
                    if self._stop.is_set():
                        return
            except httpx.ReadTimeout:
                return  # quiet past the heartbeat: the run is over


def _latencies(
    post_url: str, stream_url: str, token: str, config: KafkaStreamBenchConfig
) -> list[float]:
    """Milliseconds from each post to its frame on the stream."""
    sent: dict[str, float] = {}
    run = uuid.uuid4().hex[:6]
    interval = 1.0 / config.rate_events_per_s
    headers = {"Authorization": f"Token {token}"}
    with _Arrivals(stream_url, token) as arrivals, httpx.Client(headers=headers) as poster:
        warm = poster.post(f"{post_url}/log/event", json={"event": "warm", "uid": run})
        warm.raise_for_status()
        deadline = time.monotonic() + config.timeout_seconds
        while warm.json() not in arrivals.at:  # the tail found the topic
            if time.monotonic() > deadline:
                raise RuntimeError("the warm-up event never reached the stream")
            time.sleep(0.05)
        next_at = time.perf_counter()
        for number in range(config.events):
            started = time.perf_counter()
            response = poster.post(
                f"{post_url}/log/event", json={"event": "bench", "uid": f"{run}-{number}"}
            )
            response.raise_for_status()
            sent[response.json()] = started
            next_at += interval
            time.sleep(max(0.0, next_at - time.perf_counter()))
        deadline = time.monotonic() + config.timeout_seconds
        while not sent.keys() <= arrivals.at.keys():
            if time.monotonic() > deadline:
                missing = len(sent.keys() - arrivals.at.keys())
                raise RuntimeError(f"{missing} events never reached the stream")
            time.sleep(0.05)
        return [(arrivals.at[event_id] - at) * 1000 for event_id, at in sent.items()]


def _summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "p50_ms": round(percentile(ordered, 50), 1),
        "p99_ms": round(percentile(ordered, 99), 1),
    }


def run_kafka_stream(
    config: KafkaStreamBenchConfig, work_dir: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    """The figures (raises :class:`KafkaStreamUnavailable` when it cannot run)."""
    java, classpath, influx = java_executable(), kafka_classpath(), influxd_executable()
    if java is None or classpath is None or influx is None:
        raise KafkaStreamUnavailable("needs java, `make kafka` and influxd")
    root = work_dir / "kafka-stream"
    with (
        InfluxDServer(root / "influxd", executable=influx) as influxd,
        KafkaBroker(root / "broker", classpath=classpath, java=java) as broker,
    ):
        service = DeliveryServiceProcess(
            data_dir=root / "outbox", extra_env=delivery_env(influxd.url, "bench_stream_outbox")
        )
        service.start()
        try:
            token = service.token("bench", "write", "read")
            outbox = _summary(_latencies(service.url, service.url, token, config))
        finally:
            service.stop()
        log(f"  outbox, one process: p50 {outbox['p50_ms']} ms, p99 {outbox['p99_ms']} ms")
        topic = f"bench-stream-{uuid.uuid4().hex[:8]}"
        env = kafka_env(
            bootstrap=broker.bootstrap_servers,
            topic=topic,
            influx_url=influxd.url,
            database="bench_stream_kafka",
        )
        topology = KafkaTopology(root=root / topic, env=env)
        try:
            replica_a, replica_b = topology.add_replica(), topology.add_replica()
            kafka = _summary(_latencies(replica_b.url, replica_a.url, topology.token(), config))
        finally:
            topology.stop()
        log(f"  kafka, post to B, stream A: p50 {kafka['p50_ms']} ms, p99 {kafka['p99_ms']} ms")
    return {
        "events": config.events,
        "rate_events_per_s": config.rate_events_per_s,
        "outbox_latency_ms_p50": outbox["p50_ms"],
        "outbox_latency_ms_p99": outbox["p99_ms"],
        "cross_replica_latency_ms_p50": kafka["p50_ms"],
        "cross_replica_latency_ms_p99": kafka["p99_ms"],
        "p50_ratio": round(ratio(kafka["p50_ms"], outbox["p50_ms"]), 2),
    }
