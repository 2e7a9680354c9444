"""The client SDK: the cost of one deferred ``log()`` call and the delivered rate.

The SDK runs in its own process (``python -m benchmarks.client_sdk``) against
a fresh local service: it times every ``log()`` with ``time.perf_counter_ns``
while the SDK's worker delivers in the background, then ``flush()``es and
reports how long everything took to be acknowledged. The runner then checks
the service's store holds exactly the events logged.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.report import percentile
from benchmarks.servers import REPO_ROOT, UvicornOptions, start_service

__all__ = ["ClientConfig", "main", "measure_sdk", "run_client"]


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """How many events the SDK logs, and how long it may take to deliver them."""

    events: int = 100_000
    warmup_events: int = 2_000
    flush_timeout_seconds: float = 120.0
    uvicorn: UvicornOptions = field(default_factory=UvicornOptions)


def measure_sdk(
    url: str, token: str, *, events: int, warmup_events: int, flush_timeout_seconds: float
) -> dict[str, Any]:
    """Log ``events`` through a deferred ``Analytics`` and time each call and the delivery.

    The buffer is sized to hold every event, so nothing is dropped and the
    delivered rate is the SDK's, not its drop policy's.
    """
    from stats_client import Analytics  # noqa: PLC0415 - only the SDK process needs it

    capacity = events + warmup_events
    stats = Analytics(
        {
            "url": url,
            "access_token": token,
            "defer": True,
            "max_queue_events": capacity,
            "max_queue_bytes": max(capacity * 1024, 8 * 1024 * 1024),
            "flush_at_exit": False,
        }
    )
    try:
        for i in range(warmup_events):
            stats.log({"event": "bench.warmup", "uid": f"user-{i % 1000}", "n": i})
        if not stats.flush(flush_timeout_seconds):
            raise RuntimeError("the warm-up events were not delivered in time")
        clock = time.perf_counter_ns
        durations = [0] * events
        log = stats.log
        started = time.perf_counter()
        for i in range(events):
            data = {"event": "page.view", "uid": f"user-{i % 1000}", "path": "/pricing", "n": i}
            before = clock()
            log(data)
            durations[i] = clock() - before
        logged = time.perf_counter()
        delivered = stats.flush(flush_timeout_seconds)
        finished = time.perf_counter()
        counters = stats.counters()
    finally:
        stats.close(5.0)
    durations.sort()
    elapsed = finished - started
    return {
        "calls": events,
        "log_p50_us": round(percentile(durations, 50) / 1e3, 2),
        "log_p90_us": round(percentile(durations, 90) / 1e3, 2),
        "log_p99_us": round(percentile(durations, 99) / 1e3, 2),
        "log_p999_us": round(percentile(durations, 99.9) / 1e3, 2),
        "log_max_us": round(durations[-1] / 1e3, 2),
        "log_mean_us": round(sum(durations) / events / 1e3, 2),
        "logging_seconds": round(logged - started, 3),
        "delivery_seconds": round(elapsed, 3),
        "delivered_in_time": delivered,
        "delivered_events_per_s": round(events / elapsed, 1),
        "warmup_events": warmup_events,
        "sent": counters.sent,
        "retried": counters.retried,
        "dropped": dict(counters.dropped),
    }


def run_client(config: ClientConfig, work_dir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Start a fresh service, run the SDK process against it, verify the store's count."""
    service = start_service(work_dir, config.uvicorn, name="client-service")
    try:
        token_file = work_dir / "client-service" / "token"
        token_file.write_text(service.token, encoding="utf-8")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.client_sdk",
                "--url",
                service.server.url,
                "--token-file",
                str(token_file),
                "--events",
                str(config.events),
                "--warmup-events",
                str(config.warmup_events),
                "--flush-timeout",
                str(config.flush_timeout_seconds),
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=config.flush_timeout_seconds * 2 + 120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the SDK process failed: {done.stderr.strip()[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout)
        expected = config.events + config.warmup_events
        stored = service.stored_events()
    finally:
        service.server.stop()
    result["stored_events"] = stored
    result["expected_events"] = expected
    result["all_stored"] = stored == expected
    log(
        f"  log() p50 {result['log_p50_us']} µs, p99 {result['log_p99_us']} µs; "
        f"{result['delivered_events_per_s']:.0f} events/s delivered; stored {stored}/{expected}"
    )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the SDK process: prints the measurement as JSON."""
    defaults = ClientConfig()
    parser = argparse.ArgumentParser(prog="python -m benchmarks.client_sdk")
    parser.add_argument("--url", required=True)
    parser.add_argument("--token-file", type=Path, required=True)
    parser.add_argument("--events", type=int, default=defaults.events)
    parser.add_argument("--warmup-events", type=int, default=defaults.warmup_events)
    parser.add_argument("--flush-timeout", type=float, default=defaults.flush_timeout_seconds)
    args = parser.parse_args(argv)
    result = measure_sdk(
        args.url,
        args.token_file.read_text(encoding="utf-8").strip(),
        events=args.events,
        warmup_events=args.warmup_events,
        flush_timeout_seconds=args.flush_timeout,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
