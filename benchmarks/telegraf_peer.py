"""The Telegraf peer of the line-protocol phase: ``influxdb_v2_listener`` into ``influxdb``.

Telegraf (built by ``make telegraf`` with only the two plugins this needs)
listens for the same gzip line-protocol batches on ``/api/v2/write`` and
writes them to the same influxd. Its listener answers ``204`` as soon as a
batch is parsed into its memory buffer, before anything is durable; the phase
is timed until influxd holds every point (``count()`` polled every
``POLL_SECONDS``, which costs influxd a little CPU that the other phases do
not pay), so it compares a durable path with a non-durable one.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from benchmarks.procstat import ProcessTreeSampler
from benchmarks.report import PhaseCost
from benchmarks.servers import free_port
from stats_service.events.model import Event
from stats_service.storage.influx.lineprotocol import encode_lines

if TYPE_CHECKING:
    from influxd import InfluxDServer

__all__ = [
    "telegraf_config",
    "telegraf_executable",
    "telegraf_phase",
]

# Where ``make telegraf`` puts the binary (its version and build tags are in the Makefile).
CACHED = Path.home() / ".cache" / "stats-service" / "telegraf" / "bin" / "telegraf"
DATABASE = "bench_telegraf"
POLL_SECONDS = 0.25


def telegraf_executable() -> str | None:
    """``$BENCH_TELEGRAF``, the binary ``make telegraf`` built, or ``telegraf`` on the PATH."""
    configured = os.environ.get("BENCH_TELEGRAF")
    if configured:
        return configured
    if CACHED.exists():
        return str(CACHED)
    return shutil.which("telegraf")


def telegraf_config(listen_port: int, influx_url: str, batch: int, total: int) -> str:
    """A Telegraf configuration: the v2 listener on ``listen_port`` into ``influx_url``."""
    return f"""
[agent]
  interval = "10s"
  flush_interval = "100ms"
  flush_jitter = "0s"
  metric_batch_size = {batch}
  metric_buffer_limit = {total * 2}
  omit_hostname = true
  quiet = true

[[inputs.influxdb_v2_listener]]
  service_address = "127.0.0.1:{listen_port}"

[[outputs.influxdb]]
  urls = ["{influx_url}"]
  database = "{DATABASE}"
  content_encoding = "gzip"
"""


def telegraf_phase(
    server: InfluxDServer,
    root: Path,
    points: Callable[[int], Event],
    total: int,
    batch: int,
    senders: int,
    timeout: float,
    log: Callable[[str], None] = print,
) -> PhaseCost:
    """Send ``points(0..total)`` through Telegraf into influxd; the rate and CPU costs."""
    from benchmarks import ingest_vs_raw_write as run  # noqa: PLC0415  see lineprotocol_write

    executable = telegraf_executable()
    if executable is None:
        raise RuntimeError("telegraf is not built (make telegraf)")
    port = free_port()
    workdir = root / "telegraf"
    workdir.mkdir(parents=True)
    config = workdir / "telegraf.conf"
    config.write_text(telegraf_config(port, server.url, batch, total), encoding="utf-8")
    httpx.post(
        f"{server.url}/query", data={"q": f'CREATE DATABASE "{DATABASE}"'}
    ).raise_for_status()
    bodies = [
        gzip.compress(
            "\n".join(encode_lines(points(n) for n in range(start, start + batch))).encode(),
            compresslevel=1,
        )
        for start in range(0, total, batch)
    ]
    with (workdir / "telegraf.log").open("wb") as output:
        process = subprocess.Popen(
            [executable, "--config", str(config)], stdout=output, stderr=subprocess.STDOUT
        )
    try:
        base = f"http://127.0.0.1:{port}"
        client = httpx.Client(base_url=base, headers={"Content-Encoding": "gzip"}, timeout=timeout)
        _wait_until_listening(client, time.monotonic() + 30)

        def post(body: bytes) -> None:
            response = client.post("/api/v2/write", params={"bucket": "b"}, content=body)
            if response.status_code != 204:
                raise RuntimeError(f"telegraf: {response.status_code} {response.text[:200]}")

        if server.pid is None:
            raise RuntimeError("influxd is not running")
        influxd_cpu = ProcessTreeSampler(server.pid)
        telegraf_cpu = ProcessTreeSampler(process.pid)
        influxd_cpu.start()
        telegraf_cpu.start()
        generator_start = time.process_time()
        started = time.perf_counter()
        run.send_all(bodies, senders, post)
        accepted = time.perf_counter() - started
        deadline = time.monotonic() + timeout
        while run.count(server.url, DATABASE) < total:
            if time.monotonic() > deadline:
                raise TimeoutError("telegraf did not deliver every point in time")
            time.sleep(POLL_SECONDS)
        elapsed = time.perf_counter() - started
        generator_seconds = time.process_time() - generator_start
        influxd_seconds = influxd_cpu.stop().cpu_seconds
        telegraf_seconds = telegraf_cpu.stop().cpu_seconds
        client.close()
        log(f"  (all accepted after {accepted:.2f} s, all in InfluxDB after {elapsed:.2f} s)")
        return PhaseCost(
            points_per_s=total / elapsed,
            influxd_cpu_us=influxd_seconds / total * 1e6,
            generator_cpu_us=generator_seconds / total * 1e6,
            service_cpu_us=telegraf_seconds / total * 1e6,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_listening(client: httpx.Client, deadline: float) -> None:
    while True:
        try:
            client.get("/api/v2/ready")
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise RuntimeError("telegraf's listener did not start") from None
            time.sleep(0.1)
        else:
            return
