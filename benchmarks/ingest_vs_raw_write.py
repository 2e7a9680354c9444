"""End-to-end batch ingestion against raw line-protocol writes, on one influxd, in one run.

Two measurements of the same points on the same ``influxd`` (started here on a
free loopback port with its own temporary directories):

* **raw**: gzip-compressed line protocol POSTed to ``/write`` (the points
  pre-encoded, as a client that already has line protocol would send them);
  timed until the last ``204``. It runs three times (fresh databases); the
  median is the baseline.
* **end to end**: the same events as JSON batches POSTed to ``/log/events`` of
  a real stats-service process on the ``influxdb`` backend (durable outbox and
  forwarder in between), timed until the outbox is empty, that is until
  InfluxDB has answered ``204`` for every point; a ``count()`` then checks
  that every point is there.

Both use the same batch size and the same number of concurrent senders. The
CPU time influxd, the service and the load generator (this process) spend per
point is measured from ``/proc`` in each phase; from it follows the ratio the
end-to-end path could reach if CPU were its only limit (``cpu_bound_ratio``).
Prints the rates, their ratio and the CPU costs and writes them to
``benchmarks/results/ingest_vs_raw_write.json``. Bounded: each phase gives up
after ``--timeout`` seconds. Run from the repository root::

    python -m benchmarks.ingest_vs_raw_write [--events 100000] [--batch 5000] [--senders 2]
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks.lineprotocol_write import lineprotocol_phase
from benchmarks.procstat import ProcessTreeSampler
from benchmarks.report import PhaseCost, cpu_bound_ratio
from benchmarks.telegraf_peer import telegraf_executable, telegraf_phase
from stats_service.events.model import Event, format_time
from stats_service.storage.influx.lineprotocol import encode_lines

# The real-server helpers of the integration tests start influxd and the service.
_INTEGRATION = Path(__file__).resolve().parent.parent / "tests" / "integration"
sys.path.insert(0, str(_INTEGRATION))

from delivery_service import DeliveryServiceProcess, delivery_env  # noqa: E402
from influxd import InfluxDServer, influxd_executable  # noqa: E402

T0 = 1_763_850_000_000_000_000
STEP_NS = 1000
IDENTITY = "bench"
RESULTS = Path(__file__).resolve().parent / "results" / "ingest_vs_raw_write.json"


def payload(number: int) -> dict[str, Any]:
    """One event of the JSON batches (the shape the client SDK sends)."""
    return {
        "event": f"page.view{number % 5}",
        "uid": f"user-{number % 97}",
        "event_id": f"entry_{uuid.UUID(int=number).hex}",
        "time": format_time(T0 + number * STEP_NS),
        "tags": {"env": "prod"},
        "page": f"/docs/{number % 50}",
        "n": number,
        "ratio": number / 7,
    }


def point(number: int) -> Event:
    """The point the service stores for :func:`payload` ``(number)``."""
    return Event(
        event_id=f"entry_{uuid.UUID(int=number).hex}",
        measurement="analytics",
        time_ns=T0 + number * STEP_NS,
        tags={"event": f"page.view{number % 5}", "env": "prod", "identity": IDENTITY},
        fields={
            "uid": f"user-{number % 97}",
            "page": f"/docs/{number % 50}",
            "n": number,
            "ratio": number / 7,
        },
    )


def count(url: str, database: str) -> int:
    response = httpx.post(
        f"{url}/query",
        data={"q": 'SELECT count("event_id") FROM "analytics"', "db": database},
        timeout=30,
    )
    response.raise_for_status()
    series = response.json()["results"][0].get("series") or []
    return int(series[0]["values"][0][1]) if series else 0


def send_all(bodies: list[bytes], senders: int, post: Callable[[bytes], None]) -> None:
    with ThreadPoolExecutor(senders) as pool:
        for future in [pool.submit(post, body) for body in bodies]:
            future.result()


def wait_for_drain(client: httpx.Client, deadline: float) -> None:
    """Until the service's outbox is empty: InfluxDB has answered 204 for every point.

    Polls the service's ``/ping`` (a read of the outbox counters) rather than
    InfluxDB: a ``count()`` over the measurement costs influxd about 27 ms of
    CPU per 100,000 points, and polling it would take that CPU from the run
    being timed, which the raw side (timed to its last ``204``) never pays.
    """
    while True:
        storage = client.get("/ping").json()["storage"]
        if storage["dead_letters"]:
            raise RuntimeError(f"{storage['dead_letters']} points were dead-lettered")
        if storage["pending_events"] == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the outbox did not drain in time")
        time.sleep(0.01)


class _CpuMeter:
    """CPU seconds of influxd, of this process (the load generator) and of the service."""

    def __init__(self, influxd_pid: int, service_pid: int | None = None) -> None:
        self._influxd = ProcessTreeSampler(influxd_pid)
        self._service = None if service_pid is None else ProcessTreeSampler(service_pid)
        self._generator_start = 0.0
        self.generator_seconds = self.influxd_seconds = self.service_seconds = 0.0

    def __enter__(self) -> _CpuMeter:
        self._influxd.start()
        if self._service is not None:
            self._service.start()
        self._generator_start = time.process_time()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.generator_seconds = time.process_time() - self._generator_start
        self.influxd_seconds = self._influxd.stop().cpu_seconds
        self.service_seconds = 0.0 if self._service is None else self._service.stop().cpu_seconds

    def phase(self, total: int, elapsed: float) -> PhaseCost:
        return PhaseCost(
            points_per_s=total / elapsed,
            influxd_cpu_us=self.influxd_seconds / total * 1e6,
            generator_cpu_us=self.generator_seconds / total * 1e6,
            service_cpu_us=self.service_seconds / total * 1e6,
        )


def raw_phase(
    server: InfluxDServer, database: str, total: int, batch: int, senders: int, timeout: float
) -> PhaseCost:
    httpx.post(
        f"{server.url}/query", data={"q": f'CREATE DATABASE "{database}"'}
    ).raise_for_status()
    bodies = [
        gzip.compress(
            "\n".join(encode_lines(point(n) for n in range(start, start + batch))).encode(),
            compresslevel=1,
        )
        for start in range(0, total, batch)
    ]
    client = httpx.Client(base_url=server.url, timeout=timeout)
    params = {"db": database, "precision": "ns"}
    headers = {"Content-Encoding": "gzip", "Content-Type": "text/plain; charset=utf-8"}

    def post(body: bytes) -> None:
        response = client.post("/write", params=params, content=body, headers=headers)
        if response.status_code != 204:
            raise RuntimeError(f"raw write failed: {response.status_code} {response.text}")

    with _CpuMeter(_pid(server.pid)) as meter:
        started = time.perf_counter()
        send_all(bodies, senders, post)
        elapsed = time.perf_counter() - started
    client.close()
    stored = count(server.url, database)
    if stored != total:
        raise RuntimeError(f"raw: {stored} points stored, {total} sent")
    return meter.phase(total, elapsed)


def end_to_end_phase(
    server: InfluxDServer,
    root: Path,
    total: int,
    batch: int,
    senders: int,
    timeout: float,
    log: Callable[[str], None] = print,
) -> PhaseCost:
    database = "bench_service"
    process = DeliveryServiceProcess(
        data_dir=root / "service" / "data",
        extra_env={
            **delivery_env(
                server.url,
                database,
                forward_batch_max_events=5000,
                forward_linger_seconds=0.05,
            ),
            "STATS_LOG_LEVEL": "warning",
        },
    )
    process.data_dir.mkdir(parents=True)
    token = process.token(IDENTITY, "write")
    process.start()
    try:
        bodies = [
            orjson.dumps([payload(n) for n in range(start, start + batch)])
            for start in range(0, total, batch)
        ]
        client = httpx.Client(
            base_url=process.url,
            headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
            timeout=timeout,
        )

        def post(body: bytes) -> None:
            response = client.post("/log/events", content=body)
            if response.status_code != 200 or response.json()["accepted"] != batch:
                raise RuntimeError(f"ingest failed: {response.status_code} {response.text[:200]}")

        service_pid = _pid(None if process.process is None else process.process.pid)
        with _CpuMeter(_pid(server.pid), service_pid) as meter:
            started = time.perf_counter()
            send_all(bodies, senders, post)
            accepted = time.perf_counter() - started
            wait_for_drain(client, time.monotonic() + timeout)
            elapsed = time.perf_counter() - started
        client.close()
        stored = count(server.url, database)
        if stored != total:
            raise RuntimeError(f"end to end: {stored} points stored, {total} accepted")
        log(f"  (all accepted after {accepted:.2f} s, all in InfluxDB after {elapsed:.2f} s)")
        return meter.phase(total, elapsed)
    finally:
        process.stop()


def _pid(pid: int | None) -> int:
    if pid is None:
        raise RuntimeError("a server under test is not running")
    return pid


def run(
    events: int = 100_000,
    *,
    batch: int = 5000,
    senders: int = 2,
    raw_repeats: int = 3,
    timeout: float = 45.0,
    work_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Both measurements on a fresh influxd; the rates, their ratio, CPU costs and set-up.

    Raw ``/write`` lasts well under a second, so it runs ``raw_repeats`` times
    (each into a fresh database) and its median rate is the baseline.
    """
    if influxd_executable() is None:
        raise RuntimeError("influxd is not installed (Debian package influxdb; `make servers`)")
    with tempfile.TemporaryDirectory(prefix="bench-ingest-", dir=work_dir) as tmp:
        root = Path(tmp)
        with InfluxDServer(root / "influxd") as server:
            log(f"{events} points, batches of {batch}, {senders} senders")
            raws = [
                raw_phase(server, f"bench_raw_{n}", events, batch, senders, timeout)
                for n in range(raw_repeats)
            ]
            raw = sorted(raws, key=lambda phase: phase.points_per_s)[len(raws) // 2]
            shown = ", ".join(f"{phase.points_per_s:,.0f}" for phase in raws)
            log(f"raw line protocol /write:      {raw.points_per_s:10,.0f} points/s ({shown})")
            service = end_to_end_phase(server, root, events, batch, senders, timeout, log)
            log(f"end to end POST /log/events:   {service.points_per_s:10,.0f} events/s")
            lines = lineprotocol_phase(server, root, point, events, batch, senders, timeout, log)
            log(f"line protocol /api/v2/write:   {lines.points_per_s:10,.0f} points/s")
            peer: dict[str, Any] = {"telegraf": "skipped: telegraf is not built (make telegraf)"}
            if telegraf_executable() is not None:
                telegraf = telegraf_phase(server, root, point, events, batch, senders, timeout, log)
                log(f"Telegraf listener to influxd:  {telegraf.points_per_s:10,.0f} points/s")
                peer = telegraf_figures(lines, telegraf)
    ratio = service.points_per_s / raw.points_per_s
    bound = cpu_bound_ratio(raw, service)
    log(f"ratio end to end / raw:        {ratio:10.2f}  (target >= 0.3)")
    log(
        f"CPU per point, µs: influxd {raw.influxd_cpu_us:.1f} raw, "
        f"{service.influxd_cpu_us:.1f} end to end; service {service.service_cpu_us:.1f}; "
        f"ratio if CPU were the only limit {bound:.2f}"
    )
    log(
        f"line protocol / raw:           {lines.points_per_s / raw.points_per_s:10.2f}  "
        f"(target >= 0.5); service CPU per point {lines.service_cpu_us:.1f} µs, "
        f"{lines.service_cpu_us / raw.influxd_cpu_us:.1f}x influxd's (target <= 2)"
    )
    return {
        **lineprotocol_figures(raw, lines),
        **peer,
        "events": events,
        "batch": batch,
        "senders": senders,
        "raw_repeats": raw_repeats,
        "raw_points_per_second": round(raw.points_per_s),
        "end_to_end_events_per_second": round(service.points_per_s),
        "points_per_s": service.points_per_s,
        "baseline_points_per_s": raw.points_per_s,
        "ratio": round(ratio, 3),
        "influxd_cpu_us_per_point_raw": round(raw.influxd_cpu_us, 2),
        "influxd_cpu_us_per_point_end_to_end": round(service.influxd_cpu_us, 2),
        "generator_cpu_us_per_point_raw": round(raw.generator_cpu_us, 2),
        "generator_cpu_us_per_point_end_to_end": round(service.generator_cpu_us, 2),
        "service_cpu_us_per_event": round(service.service_cpu_us, 2),
        "cpu_bound_ratio": round(bound, 3),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def lineprotocol_figures(raw: PhaseCost, lines: PhaseCost) -> dict[str, float]:
    """The line-protocol phase's figures, beside the raw baseline of the same run."""
    return {
        "lineprotocol_points_per_s": round(lines.points_per_s),
        "lineprotocol_ratio": round(ratio_of(lines.points_per_s, raw.points_per_s), 3),
        "lineprotocol_service_cpu_us_per_point": round(lines.service_cpu_us, 2),
        "lineprotocol_influxd_cpu_us_per_point": round(lines.influxd_cpu_us, 2),
        "lineprotocol_service_cpu_vs_influxd": round(
            ratio_of(lines.service_cpu_us, raw.influxd_cpu_us), 2
        ),
    }


def telegraf_figures(lines: PhaseCost, telegraf: PhaseCost) -> dict[str, float]:
    """The Telegraf peer's figures, and ours as a ratio to its rate."""
    return {
        "telegraf_points_per_s": round(telegraf.points_per_s),
        "telegraf_cpu_us_per_point": round(telegraf.service_cpu_us, 2),
        "lineprotocol_vs_telegraf": round(ratio_of(lines.points_per_s, telegraf.points_per_s), 3),
    }


def ratio_of(value: float, baseline: float) -> float:
    return value / baseline if baseline else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="points per measurement")
    parser.add_argument("--batch", type=int, default=5000, help="points per request")
    parser.add_argument("--senders", type=int, default=2, help="concurrent senders")
    parser.add_argument("--timeout", type=float, default=45.0, help="limit of each phase (s)")
    args = parser.parse_args(argv)
    try:
        result = run(args.events, batch=args.batch, senders=args.senders, timeout=args.timeout)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 2
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
