"""Scale-out on Kafka: events/s end to end by replicas and forwarders, beside the outbox.

One run, one influxd, one Kafka broker (KRaft, from ``make kafka``). For each
shape (API replicas x forwarders) a fresh topic and database: load threads
post batches of events round-robin over the replicas; the clock stops when
InfluxDB holds every event. The single-node outbox path (one ``serve``
process on the ``influxdb`` backend) runs the same load first, as the
baseline. Reported per shape: events/s end to end and its ratio to the
outbox, the latency of one batch request (which returns once Kafka
acknowledged all of it: the produce acknowledgement plus HTTP) p50/p99, and
CPU microseconds per event of each process kind (replicas, forwarders, the
broker, influxd), which predicts scale on machines with more cores than this.
"""

from __future__ import annotations

import itertools
import statistics
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

from benchmarks.procstat import ProcessTreeSampler
from benchmarks.report import percentile, ratio
from stats_service.events.model import format_time

_INTEGRATION = Path(__file__).resolve().parent.parent / "tests" / "integration"
if str(_INTEGRATION) not in sys.path:
    sys.path.insert(0, str(_INTEGRATION))

from delivery_service import DeliveryServiceProcess, delivery_env  # noqa: E402
from influxd import InfluxDServer, influxd_executable  # noqa: E402
from kafka_broker import KafkaBroker, java_executable, kafka_classpath  # noqa: E402
from kafka_topology import KafkaTopology, kafka_env  # noqa: E402

__all__ = ["KafkaBenchConfig", "KafkaUnavailable", "run_kafka", "shape_figures", "summarize"]

T0 = 1_763_850_000_000_000_000


class KafkaUnavailable(RuntimeError):
    """Java, the Kafka classpath or influxd is missing: the section is skipped."""


@dataclass(frozen=True, slots=True)
class KafkaBenchConfig:
    """Load per shape and the shapes, ``(replicas, forwarders)``."""

    events: int = 20_000
    batch: int = 500
    threads: int = 3
    shapes: tuple[tuple[int, int], ...] = ((1, 1), (2, 1), (3, 1), (1, 2), (3, 2))
    timeout_seconds: float = 120.0


def _count(url: str, database: str) -> int:
    response = httpx.post(
        f"{url}/query",
        data={"q": 'SELECT count("n") FROM "analytics"', "db": database},
        timeout=30,
    )
    series = response.json()["results"][0].get("series") or []
    return int(series[0]["values"][0][1]) if series else 0


def _load(
    urls: list[str], token: str, config: KafkaBenchConfig, *, base_ns: int = T0
) -> list[float]:
    """Post ``config.events`` events; the latency of every batch request (all must be 200)."""
    run_id = uuid.uuid4().hex[:8]
    starts = itertools.count(0, config.batch)
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        with httpx.Client(headers=headers, timeout=60) as client:
            for request in itertools.count(index):
                start = next(starts)
                if start >= config.events:
                    return
                numbers = range(start, min(start + config.batch, config.events))
                body = orjson.dumps(
                    [
                        {
                            "event": "bench",
                            "uid": f"u{n % 97}",
                            "event_id": f"{run_id}-{n}",
                            "time": format_time(base_ns + n * 1000),
                            "n": n,
                        }
                        for n in numbers
                    ]
                )
                began = time.perf_counter()
                status = client.post(f"{urls[request % len(urls)]}/log/events", content=body)
                elapsed = time.perf_counter() - began
                with lock:
                    latencies.append(elapsed)
                    if status.status_code != 200:
                        failures.append(status.status_code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(config.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(config.timeout_seconds)
    if failures:
        raise RuntimeError(f"{len(failures)} batch requests failed: {sorted(set(failures))}")
    return latencies


def _wait_stored(url: str, database: str, expected: int, timeout_seconds: float) -> None:
    deadline = time.monotonic() + timeout_seconds
    while _count(url, database) < expected:
        if time.monotonic() > deadline:
            held = _count(url, database)
            raise RuntimeError(
                f"InfluxDB held {held} of {expected} events after {timeout_seconds} s"
            )
        time.sleep(0.1)


def _measure(
    pids: dict[str, list[int]], events: int, body: Callable[[], list[float]]
) -> dict[str, Any]:
    samplers = {kind: [ProcessTreeSampler(pid) for pid in group] for kind, group in pids.items()}
    for group in samplers.values():
        for sampler in group:
            sampler.start()
    began = time.monotonic()
    latencies = body()
    seconds = time.monotonic() - began
    cpu = {kind: sum(s.stop().cpu_seconds for s in group) for kind, group in samplers.items()}
    return shape_figures(events, seconds, latencies, cpu)


def shape_figures(
    events: int, seconds: float, latencies: list[float], cpu_seconds: dict[str, float]
) -> dict[str, Any]:
    """One run's figures: events/s, batch latency (ms) and, per process kind and in
    total, CPU microseconds per event (a kind's CPU summed over its processes)."""
    ordered = sorted(latencies)
    per_event = {kind: round(cpu / events * 1e6, 1) for kind, cpu in cpu_seconds.items()}
    return {
        "events": events,
        "seconds": round(seconds, 2),
        "events_per_s": round(events / seconds),
        "batch_latency_ms_p50": round(percentile(ordered, 50) * 1000, 1),
        "batch_latency_ms_p99": round(percentile(ordered, 99) * 1000, 1),
        "cpu_us_per_event": per_event,
        "cpu_us_per_event_total": round(sum(cpu_seconds.values()) / events * 1e6, 1),
    }


def _outbox(root: Path, influxd: InfluxDServer, config: KafkaBenchConfig) -> dict[str, Any]:
    database = f"bench_outbox_{uuid.uuid4().hex[:6]}"
    service = DeliveryServiceProcess(
        data_dir=root / "outbox", extra_env=delivery_env(influxd.url, database)
    )
    service.start()
    try:
        token = service.token("bench", "write")
        if service.process is None or influxd.pid is None:
            raise RuntimeError("the outbox service or influxd is not running")

        def body() -> list[float]:
            latencies = _load([service.url], token, config)
            _wait_stored(influxd.url, database, config.events, config.timeout_seconds)
            return latencies

        return _measure(
            {"service": [service.process.pid], "influxd": [influxd.pid]}, config.events, body
        )
    finally:
        service.stop()


def _shape(
    root: Path,
    broker: KafkaBroker,
    influxd: InfluxDServer,
    config: KafkaBenchConfig,
    replicas: int,
    forwarders: int,
) -> dict[str, Any]:
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    database = f"bench_{topic.replace('-', '_')}"
    env = kafka_env(
        bootstrap=broker.bootstrap_servers, topic=topic, influx_url=influxd.url, database=database
    )
    topology = KafkaTopology(root=root / topic, env=env)
    try:
        for _ in range(replicas):
            topology.add_replica()
        for _ in range(forwarders):
            topology.add_forwarder()
        token = topology.token("bench")
        urls = [r.url for r in topology.replicas]
        warm_up = KafkaBenchConfig(events=config.batch, batch=config.batch)
        _load(urls, token, warm_up, base_ns=T0 - 10**12)  # earlier times than the measured run
        _wait_stored(influxd.url, database, config.batch, config.timeout_seconds)
        # The warm-up's events are in InfluxDB already; wait for the total.
        measured = KafkaBenchConfig(
            events=config.events, batch=config.batch, threads=config.threads
        )

        def body() -> list[float]:
            latencies = _load(urls, token, measured)
            _wait_stored(
                influxd.url, database, config.events + config.batch, config.timeout_seconds
            )
            return latencies

        pids = {
            "replicas": [r.process.pid for r in topology.replicas if r.process],
            "forwarders": [f.process.pid for f in topology.forwarders if f.process],
            "broker": [broker.pid] if broker.pid else [],
            "influxd": [influxd.pid] if influxd.pid else [],
        }
        return {
            "replicas": replicas,
            "forwarders": forwarders,
            **_measure(pids, config.events, body),
        }
    finally:
        topology.stop()


def run_kafka(
    config: KafkaBenchConfig, work_dir: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    """The Kafka section's figures (raises :class:`KafkaUnavailable` when it cannot run)."""
    java, classpath, influx = java_executable(), kafka_classpath(), influxd_executable()
    if java is None or classpath is None or influx is None:
        raise KafkaUnavailable("needs java, `make kafka` and influxd")
    root = work_dir / "kafka"
    with (
        InfluxDServer(root / "influxd", executable=influx) as influxd,
        KafkaBroker(root / "broker", classpath=classpath, java=java) as broker,
    ):
        outbox = _outbox(root, influxd, config)
        log(f"  outbox: {outbox['events_per_s']} events/s")
        shapes = []
        for replicas, forwarders in config.shapes:
            figures = _shape(root, broker, influxd, config, replicas, forwarders)
            log(
                f"  {replicas} replicas x {forwarders} forwarders: {figures['events_per_s']}"
                f" events/s, batch p50 {figures['batch_latency_ms_p50']} ms, CPU per event "
                + ", ".join(f"{k} {v} µs" for k, v in figures["cpu_us_per_event"].items())
            )
            shapes.append(figures)
    return summarize(outbox, shapes, config)


def summarize(
    outbox: dict[str, Any], shapes: list[dict[str, Any]], config: KafkaBenchConfig
) -> dict[str, Any]:
    """The section's document: every shape's figures with its ratio to the outbox, and
    flat keys (``shape_<R>x<F>_...``, ``outbox_...``) for the results table."""
    shapes = [
        {**s, "vs_outbox": round(ratio(s["events_per_s"], outbox["events_per_s"]), 2)}
        for s in shapes
    ]
    best = max(shapes, key=lambda s: s["events_per_s"])
    flat: dict[str, Any] = {"outbox_events_per_s": outbox["events_per_s"]}
    for kind, micros in outbox["cpu_us_per_event"].items():
        flat[f"outbox_cpu_us_per_event_{kind}"] = micros
    flat["outbox_cpu_us_per_event_total"] = outbox["cpu_us_per_event_total"]
    for figures in shapes:
        name = f"shape_{figures['replicas']}x{figures['forwarders']}"
        flat[f"{name}_events_per_s"] = figures["events_per_s"]
        flat[f"{name}_vs_outbox"] = figures["vs_outbox"]
        flat[f"{name}_batch_ms_p50"] = figures["batch_latency_ms_p50"]
        flat[f"{name}_batch_ms_p99"] = figures["batch_latency_ms_p99"]
        for kind, micros in figures["cpu_us_per_event"].items():
            flat[f"{name}_cpu_us_per_event_{kind}"] = micros
        flat[f"{name}_cpu_us_per_event_total"] = figures["cpu_us_per_event_total"]
    return {
        **flat,
        "events_per_shape": config.events,
        "batch_events": config.batch,
        "outbox": outbox,
        "shapes": shapes,
        "best_events_per_s": best["events_per_s"],
        "best_vs_outbox": best["vs_outbox"],
        "mean_batch_latency_ms_p50": round(
            statistics.fmean(s["batch_latency_ms_p50"] for s in shapes), 1
        ),
    }
