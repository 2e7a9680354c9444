"""Export throughput against a plain dump of the same rows, in one run.

For each backend, the same events (``--events``, over three UTC days) are
stored first (not timed), then:

* **export**: ``run_export`` of the window into a directory target, the
  whole job (the ``config``, ``event_counts`` and ``events`` collectors, CSV
  chunks, deterministic tar.gz packages, sha256 manifests, atomic puts, the
  watermark), reading through the store's window query;
* **plain dump**: what a script would do by hand. Embedded store:
  ``pandas.read_sql`` of the window's rows from the SQLite file, then
  ``DataFrame.to_csv``. InfluxDB: one ``/query`` of the window with
  ``Accept: application/csv`` streamed into a file.

Export and dump alternate for three rounds per backend; the figures are the
median events per second of each and the ratio export/dump. The InfluxDB
half starts its own influxd on a free loopback port. Run from the repository
root::

    python -m benchmarks.export_throughput [--events 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from stats_service.events.model import Event
from stats_service.export.package import PackageLimits
from stats_service.export.run import run_export
from stats_service.export.storage import DirectoryStorage
from stats_service.export.window import Window, to_ns
from stats_service.settings import load_settings
from stats_service.storage.base import EventStore
from stats_service.storage.embedded import EmbeddedStore
from stats_service.storage.influx.config import InfluxDBConfig
from stats_service.storage.influx.v1 import InfluxDBStore

_INTEGRATION = Path(__file__).resolve().parent.parent / "tests" / "integration"
sys.path.insert(0, str(_INTEGRATION))

from influxd import InfluxDServer, influxd_executable  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "export_throughput.json"
NOV_1 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
WINDOW = Window(NOV_1, NOV_1 + dt.timedelta(days=3))
_WRITE_BATCH = 10_000


def _events(count: int) -> list[Event]:
    rng = random.Random(1)
    start = to_ns(NOV_1)
    span = WINDOW.until_ns - WINDOW.since_ns
    kinds = ("app.open", "app.close", "user.login", "page.view")
    return [
        Event(
            event_id=f"b{n:010d}",
            measurement="analytics",
            time_ns=start + rng.randrange(span),
            tags={"event": rng.choice(kinds), "identity": rng.choice(("web", "ios"))},
            fields={"uid": f"user-{rng.randrange(10_000)}", "duration_ms": rng.randrange(900)},
        )
        for n in range(count)
    ]


async def _fill(store: EventStore, events: list[Event]) -> None:
    for start in range(0, len(events), _WRITE_BATCH):
        await store.write(events[start : start + _WRITE_BATCH])


async def _export(store: EventStore, root: Path, job: str) -> tuple[float, int, int]:
    settings = load_settings(environ={}, data_dir=root / "data")
    target = root / f"target-{job}"
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    result = await run_export(
        store=store,
        storage=DirectoryStorage(target),
        settings=settings,
        window=WINDOW,
        job=job,
        limits=PackageLimits(),
    )
    return time.perf_counter() - started, result.events, len(result.packages)


def _embedded_dump(path: Path, out: Path) -> tuple[float, int]:
    import pandas as pd  # noqa: PLC0415 - the export extra

    started = time.perf_counter()
    with sqlite3.connect(path) as conn:
        frame = pd.read_sql(
            "SELECT event_id, measurement, time_ns, event, uid, body FROM events"
            " WHERE time_ns >= ? AND time_ns < ? ORDER BY time_ns, event_id",
            conn,
            params=(WINDOW.since_ns, WINDOW.until_ns),
        )
    frame.to_csv(out, index=False)
    return time.perf_counter() - started, len(frame)


def _influx_dump(url: str, database: str, out: Path) -> tuple[float, int]:
    query = f"SELECT * FROM analytics WHERE time >= {WINDOW.since_ns} AND time < {WINDOW.until_ns}"
    started = time.perf_counter()
    lines = 0
    with (
        httpx.stream(
            "POST",
            f"{url}/query",
            data={"db": database, "q": query, "epoch": "ns"},
            headers={"Accept": "application/csv"},
            timeout=300,
        ) as response,
        out.open("wb") as fh,
    ):
        response.raise_for_status()
        for chunk in response.iter_bytes():
            lines += chunk.count(b"\n")
            fh.write(chunk)
    return time.perf_counter() - started, max(lines - 1, 0)


def _figures(exports: list[float], events: int, dumps: list[float], dumped: int) -> dict[str, Any]:
    """Medians of the interleaved rounds; every round's seconds kept."""
    rate = events / statistics.median(exports)
    baseline = dumped / statistics.median(dumps)
    return {
        "events": events,
        "events_per_s": round(rate, 1),
        "export_seconds": [round(x, 3) for x in exports],
        "baseline_events_per_s": round(baseline, 1),
        "baseline_seconds": [round(x, 3) for x in dumps],
        "baseline_rows": dumped,
        "ratio": round(rate / baseline, 3),
    }


def _rounds(
    export: Callable[[], tuple[float, int, int]],
    dump: Callable[[], tuple[float, int]],
    rounds: int,
) -> dict[str, Any]:
    exports: list[float] = []
    dumps: list[float] = []
    exported = dumped = packages = 0
    for _ in range(rounds):
        seconds, exported, packages = export()
        exports.append(seconds)
        dump_seconds, dumped = dump()
        dumps.append(dump_seconds)
    return {**_figures(exports, exported, dumps, dumped), "packages": packages}


def run(
    events: int = 100_000,
    *,
    rounds: int = 3,
    work_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Both backends, ``rounds`` interleaved export/dump rounds each; medians and ratios."""
    items = _events(events)
    answer: dict[str, Any] = {"window": WINDOW.label(), "rounds": rounds}
    with tempfile.TemporaryDirectory(prefix="bench-export-", dir=work_dir) as tmp:
        root = Path(tmp)
        db = root / "events.sqlite3"
        loop = asyncio.new_event_loop()
        try:
            embedded = EmbeddedStore(db)
            loop.run_until_complete(embedded.open())
            loop.run_until_complete(_fill(embedded, items))
            answer["embedded"] = _rounds(
                lambda: loop.run_until_complete(_export(embedded, root, "embedded")),
                lambda: _embedded_dump(db, root / "embedded-dump.csv"),
                rounds,
            )
            loop.run_until_complete(embedded.close())
            figures = answer["embedded"]
            log(
                f"  embedded: export {figures['events_per_s']:,.0f} events/s, read_sql + "
                f"to_csv {figures['baseline_events_per_s']:,.0f} events/s, "
                f"ratio {figures['ratio']:.2f}"
            )
            if influxd_executable() is None:
                answer["influxdb"] = {"skipped": "influxd is not installed (`make servers`)"}
                return answer
            with InfluxDServer(root / "influxd") as server:
                influx = InfluxDBStore(InfluxDBConfig(url=server.url, database="bench_export"))
                loop.run_until_complete(influx.open())
                loop.run_until_complete(_fill(influx, items))
                answer["influxdb"] = _rounds(
                    lambda: loop.run_until_complete(_export(influx, root, "influxdb")),
                    lambda: _influx_dump(server.url, "bench_export", root / "influx.csv"),
                    rounds,
                )
                loop.run_until_complete(influx.close())
            figures = answer["influxdb"]
            log(
                f"  influxdb: export {figures['events_per_s']:,.0f} events/s, /query as CSV "
                f"{figures['baseline_events_per_s']:,.0f} events/s, ratio {figures['ratio']:.2f}"
            )
        finally:
            loop.close()
    return answer


def main(argv: list[str] | None = None) -> int:
    """Run and write ``benchmarks/results/export_throughput.json``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.export_throughput")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    answer = run(args.events, rounds=args.rounds)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(answer, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(answer, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
