"""Line-protocol batches through stats-service's ``/api/v2/write``, timed until in InfluxDB.

One phase of :mod:`benchmarks.ingest_vs_raw_write`, measured on the same
influxd in the same run as raw ``/write``: the same points as gzip-compressed
line protocol (what Telegraf or an InfluxDB client library sends) POSTed to
``/api/v2/write`` of a real stats-service on the ``influxdb`` backend, timed
until the outbox is empty (every point answered ``204`` by InfluxDB), then
counted. The CPU each process spends per point is measured as in the other
phases. The service adds the ``identity`` tag itself, so the bodies carry
every tag and field of the raw phase's points except that one.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from benchmarks.procstat import ProcessTreeSampler
from benchmarks.report import PhaseCost
from stats_service.events.model import Event
from stats_service.storage.influx.lineprotocol import encode_lines

if TYPE_CHECKING:
    from influxd import InfluxDServer

__all__ = ["lineprotocol_phase", "lineprotocol_point"]

DATABASE = "bench_lineprotocol"


def lineprotocol_point(event: Event) -> Event:
    """``event`` without the ``identity`` tag, which the service sets from the token."""
    return replace(event, tags={k: v for k, v in event.tags.items() if k != "identity"})


def lineprotocol_phase(
    server: InfluxDServer,
    root: Path,
    points: Callable[[int], Event],
    total: int,
    batch: int,
    senders: int,
    timeout: float,
    log: Callable[[str], None] = print,
) -> PhaseCost:
    """Send ``points(0..total)`` as line protocol through the service; the rate and CPU costs."""
    # That module runs this phase; importing it here, not at the top, avoids the cycle.
    from benchmarks import ingest_vs_raw_write as run  # noqa: PLC0415

    process = run.DeliveryServiceProcess(
        data_dir=root / "lineprotocol" / "data",
        extra_env={
            **run.delivery_env(
                server.url, DATABASE, forward_batch_max_events=5000, forward_linger_seconds=0.05
            ),
            "STATS_LOG_LEVEL": "warning",
        },
    )
    process.data_dir.mkdir(parents=True)
    token = process.token(run.IDENTITY, "write")
    process.start()
    try:
        bodies = [
            gzip.compress(
                "\n".join(
                    encode_lines(lineprotocol_point(points(n)) for n in range(start, start + batch))
                ).encode(),
                compresslevel=1,
            )
            for start in range(0, total, batch)
        ]
        client = httpx.Client(
            base_url=process.url,
            headers={"Authorization": f"Token {token}", "Content-Encoding": "gzip"},
            timeout=timeout,
        )

        def post(body: bytes) -> None:
            response = client.post("/api/v2/write", params={"bucket": "b"}, content=body)
            if response.status_code != 204:
                raise RuntimeError(f"/api/v2/write: {response.status_code} {response.text[:200]}")

        if process.process is None or server.pid is None:
            raise RuntimeError("a server under test is not running")
        influxd_cpu = ProcessTreeSampler(server.pid)
        service_cpu = ProcessTreeSampler(process.process.pid)
        influxd_cpu.start()
        service_cpu.start()
        generator_start = time.process_time()
        started = time.perf_counter()
        run.send_all(bodies, senders, post)
        accepted = time.perf_counter() - started
        run.wait_for_drain(client, time.monotonic() + timeout)
        elapsed = time.perf_counter() - started
        generator_seconds = time.process_time() - generator_start
        influxd_seconds = influxd_cpu.stop().cpu_seconds
        service_seconds = service_cpu.stop().cpu_seconds
        client.close()
        stored = run.count(server.url, DATABASE)
        if stored != total:
            raise RuntimeError(f"line protocol: {stored} points stored, {total} accepted")
        log(f"  (all accepted after {accepted:.2f} s, all in InfluxDB after {elapsed:.2f} s)")
        return PhaseCost(
            points_per_s=total / elapsed,
            influxd_cpu_us=influxd_seconds / total * 1e6,
            generator_cpu_us=generator_seconds / total * 1e6,
            service_cpu_us=service_seconds / total * 1e6,
        )
    finally:
        process.stop()
