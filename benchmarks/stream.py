"""The live stream: delivery latency (post to receive) and what subscribers cost ingestion.

Against one fresh service process on the embedded store, with the default
stream settings (the durable log is polled every 0.1 s):

* latency: one SSE subscriber; a poster sends ``POST /log/events`` batches
  of 10 every 10 ms (1,000 events/s) for ``latency_seconds``; each event's
  latency is from just before its batch was sent to the moment its frame was
  read by the subscriber. p50 and p99 in milliseconds.
* cost: the ingest rate (batches of 100 from 4 concurrent posters for
  ``ingest_seconds``) with no subscriber and then with 50 subscribers
  reading every event, in the same run; the ratio is what streaming costs.
  The subscribers are bare asyncio sockets in the load generator's process.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.report import percentile, ratio
from benchmarks.servers import UvicornOptions, start_service

__all__ = ["StreamBenchConfig", "run_stream"]


@dataclass(frozen=True, slots=True)
class StreamBenchConfig:
    """Rates and durations of the stream benchmark."""

    rate_events_per_s: int = 1000
    latency_seconds: float = 5.0
    ingest_seconds: float = 4.0
    subscribers: int = 50
    batch_events: int = 100
    posters: int = 4


class _Subscriber:
    """One SSE client on a raw socket; notes when each event id arrives."""

    def __init__(self, port: int, token: str, on_id: Callable[[str], None] | None) -> None:
        self._port, self._token, self._on_id = port, token, on_id
        self.frames = 0
        self.opened = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self._port)
        writer.write(
            b"GET /log/stream HTTP/1.1\r\nHost: b\r\n"
            + f"Authorization: Token {self._token}\r\n\r\n".encode()
        )
        await writer.drain()
        pending = b""
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    return
                pending += chunk
                status = pending[:12] if not self.opened.is_set() else b""
                if status.startswith(b"HTTP/1.1 ") and status[9:12] != b"200":
                    raise RuntimeError(f"the stream answered {pending[:300]!r}")
                if not self.opened.is_set() and b": open" in pending:
                    self.opened.set()
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.startswith(b"id: "):
                        self.frames += 1
                        if self._on_id is not None:
                            self._on_id(line[4:].strip().decode())
        finally:
            writer.close()


async def _open(
    count: int, port: int, token: str, on_id: Callable[[str], None] | None
) -> list[_Subscriber]:
    subscribers = [_Subscriber(port, token, on_id) for _ in range(count)]
    for subscriber in subscribers:
        subscriber.task = asyncio.create_task(subscriber.run())
    await asyncio.wait_for(asyncio.gather(*(s.opened.wait() for s in subscribers)), 30)
    return subscribers


async def _close(subscribers: list[_Subscriber]) -> None:
    for subscriber in subscribers:
        if subscriber.task is not None:
            subscriber.task.cancel()
    await asyncio.gather(*(s.task for s in subscribers if s.task), return_exceptions=True)


async def _latency(
    url: str, port: int, writer: str, reader: str, config: StreamBenchConfig
) -> list[float]:
    sent: dict[str, float] = {}
    latencies: list[float] = []

    def arrived(event_id: str) -> None:
        started = sent.pop(event_id, None)
        if started is not None:
            latencies.append((time.perf_counter() - started) * 1000)

    subscribers = await _open(1, port, reader, arrived)
    per_batch = 10
    interval = per_batch / config.rate_events_per_s
    batches = int(config.latency_seconds / interval)
    headers = {"Authorization": f"Token {writer}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        posts: set[asyncio.Task[httpx.Response]] = set()
        next_at = time.perf_counter()
        for n in range(batches):
            ids = [f"lat-{n}-{i}" for i in range(per_batch)]
            now = time.perf_counter()
            for event_id in ids:
                sent[event_id] = now
            body = [{"event": "bench.stream", "uid": "u", "event_id": e} for e in ids]
            posts.add(asyncio.create_task(client.post("/log/events", json=body)))
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await asyncio.gather(*posts, return_exceptions=True)
        await asyncio.sleep(2.0)  # the last frames, well past the poll interval
    await _close(subscribers)
    return latencies


async def _ingest(url: str, writer: str, config: StreamBenchConfig, tag: str) -> float:
    headers = {"Authorization": f"Token {writer}"}
    stored = 0
    stop_at = time.perf_counter() + config.ingest_seconds

    async def poster(number: int) -> None:
        nonlocal stored
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
            n = 0
            while time.perf_counter() < stop_at:
                body = [
                    {"event": "bench.ingest", "uid": "u", "event_id": f"{tag}-{number}-{n}-{i}"}
                    for i in range(config.batch_events)
                ]
                reply = await client.post("/log/events", json=body)
                if reply.status_code == httpx.codes.OK:
                    stored += int(reply.json()["accepted"])
                n += 1

    started = time.perf_counter()
    await asyncio.gather(*(poster(i) for i in range(config.posters)))
    return stored / (time.perf_counter() - started)


def run_stream(
    config: StreamBenchConfig, work_dir: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    """The stream figures (see the module docstring)."""
    limit = {"STATS_STREAM_MAX_PER_IDENTITY": str(config.subscribers + 10)}
    service = start_service(work_dir, UvicornOptions(), name="stream", extra_env=limit)
    try:
        cli = Path(service.server.argv[0]).with_name("stats-service")
        reader = subprocess.run(
            [str(cli), "token", "create", "--identity", "bench-reader", "--scope", "read"],
            env=service.server.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()

        async def body() -> dict[str, Any]:
            latencies = sorted(
                await _latency(
                    service.server.url, service.server.port, service.token, reader, config
                )
            )
            log(f"  latency: {len(latencies)} events received")
            alone = await _ingest(service.server.url, service.token, config, "alone")
            subscribers = await _open(config.subscribers, service.server.port, reader, None)
            with_subscribers = await _ingest(service.server.url, service.token, config, "subs")
            await asyncio.sleep(1.0)
            frames = min(s.frames for s in subscribers)
            await _close(subscribers)
            return {
                "rate_events_per_s": config.rate_events_per_s,
                "latency_events": len(latencies),
                "latency_ms_p50": round(percentile(latencies, 50), 1) if latencies else None,
                "latency_ms_p99": round(percentile(latencies, 99), 1) if latencies else None,
                "ingest_events_per_s_no_subscribers": round(alone),
                "ingest_events_per_s_with_subscribers": round(with_subscribers),
                "subscribers": config.subscribers,
                "subscriber_min_frames": frames,
                "ingest_ratio": ratio(with_subscribers, alone),
            }

        return asyncio.run(body())
    finally:
        service.server.stop()
