"""Where the CPU of one line-protocol point goes, stage by stage, in one process.

The end-to-end figure of :mod:`benchmarks.lineprotocol_write` says how much
CPU the service spends per point; this profile says on what. It takes the
points of the batch benchmark (:func:`benchmarks.ingest_vs_raw_write.point`,
without the ``identity`` tag, as a client sends them), encodes them as one
line-protocol body per request, and times each step the service takes with
them, on a real outbox file in a temporary directory:

``gunzip``, ``parse_lines``, ``event_from_point``
    the request body to what is stored, as ``/api/v2/write`` does it: each
    point straight to its stored line where the version measured has that
    fast path (``point_line``), else to an event (the stage keeps its name);
``outbox_append``
    ``Outbox.append_lines`` (or ``append``, for events) of one request: row
    building, the multi-row insert and the commit (with its fsync) on the
    writer thread;
``outbox_read``
    ``Outbox.next_batch`` of one forwarder batch;
``forward_body``
    what the forwarder hands the InfluxDB backend, made into the request
    body: the stored lines joined when the entries carry them, else the
    events encoded again;
``gzip``
    that body compressed at level 1, as the backends send it;
``outbox_settle``
    ``Outbox.settle`` of the batch (one transaction).

Each stage is run ``--repeats`` times and the best run counts; CPU is the
process's (every thread's) ``utime + stime`` over the stage, so the writer
thread's work is in it, wall time is shown beside it. HTTP to InfluxDB and
uvicorn are not in it: ``lineprotocol_write`` measures the whole path.

Run as ``python -m benchmarks.lineprotocol_stages [--points N] [--batch N]``;
it prints one line per stage in microseconds per point, and the total.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.ingest_vs_raw_write import point
from benchmarks.lineprotocol_write import lineprotocol_point
from stats_service.delivery.outbox import Outbox
from stats_service.delivery.queue import OutboxEntry
from stats_service.events.lineprotocol_events import event_from_point
from stats_service.events.lineprotocol_parse import ParsedPoint, parse_lines
from stats_service.events.model import Event, Limits
from stats_service.storage.influx.lineprotocol import encode_events, encode_lines

__all__ = ["StageTime", "forward_body", "main", "profile_stages"]


@dataclass(frozen=True, slots=True)
class StageTime:
    """One stage: CPU and wall microseconds per point (best of the repeats)."""

    name: str
    cpu_us_per_point: float
    wall_us_per_point: float


def forward_body(entries: Sequence[OutboxEntry]) -> bytes:
    """The ``/write`` body the forwarder sends for ``entries``."""
    lines = [getattr(entry, "line", None) for entry in entries]
    if all(line is not None for line in lines):
        return b"\n".join(line for line in lines if line is not None)
    return encode_events(entry.event for entry in entries)


def _bodies(points: int, batch: int) -> list[bytes]:
    return [
        "\n".join(
            encode_lines(lineprotocol_point(point(n)) for n in range(start, start + batch))
        ).encode()
        for start in range(0, points, batch)
    ]


def _best(runs: list[tuple[float, float]], name: str, points: int) -> StageTime:
    cpu, wall = min(runs)
    return StageTime(name, cpu / points * 1e6, wall / points * 1e6)


def _timed(work: Callable[[], Any]) -> tuple[tuple[float, float], Any]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = work()
    return (time.process_time() - cpu, time.perf_counter() - wall), result


async def _timed_async(work: Callable[[], Awaitable[Any]]) -> tuple[tuple[float, float], Any]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = await work()
    return (time.process_time() - cpu, time.perf_counter() - wall), result


def _events(parsed: list[list[ParsedPoint]], base_ns: int) -> list[list[Any]]:
    """Each request's points as the service maps them: straight to their stored lines
    where this version can (``point_line``), else as events."""
    limits = Limits()
    try:
        from stats_service.storage.influx.point_lines import point_line  # noqa: PLC0415
    except ImportError:  # a version without the fast path
        return [
            [
                event_from_point(p, identity="bench", now_ns=base_ns + i, limits=limits)
                for i, p in enumerate(request)
            ]
            for request in parsed
        ]
    mapped: list[list[Any]] = []
    for request in parsed:
        items: list[Any] = []
        for i, p in enumerate(request):
            item = point_line(p, identity="bench", now_ns=base_ns + i, limits=limits)
            items.append(
                item
                if item is not None
                else event_from_point(p, identity="bench", now_ns=base_ns + i, limits=limits)
            )
        mapped.append(items)
    return mapped


_Spent = list[float]
"""CPU and wall seconds, summed over the calls of one stage."""


def _add(spent: _Spent, cost: tuple[float, float]) -> None:
    spent[0] += cost[0]
    spent[1] += cost[1]


async def _outbox_run(outbox: Outbox, events: list[list[Any]], batch: int) -> list[_Spent]:
    """Append every request, then forward it all in batches; each stage's cost."""
    append: _Spent = [0.0, 0.0]
    for request in events:
        if hasattr(outbox, "append_lines") and not isinstance(request[0], Event):
            cost, _ = await _timed_async(lambda r=request: outbox.append_lines(r))
        else:
            cost, _ = await _timed_async(lambda r=request: outbox.append(r))
        _add(append, cost)
    read: _Spent = [0.0, 0.0]
    body: _Spent = [0.0, 0.0]
    packed: _Spent = [0.0, 0.0]
    settle: _Spent = [0.0, 0.0]
    after = 0
    while True:
        cost, entries = await _timed_async(
            lambda a=after: outbox.next_batch(batch, 1 << 30, after_seq=a)
        )
        if not entries:
            break
        _add(read, cost)
        cost, data = _timed(lambda e=entries: forward_body(e))
        _add(body, cost)
        cost, _ = _timed(lambda d=data: gzip.compress(d, 1, mtime=0))
        _add(packed, cost)
        cost, _ = await _timed_async(lambda e=entries: outbox.settle(e))
        _add(settle, cost)
        after = entries[-1].seq
    return [append, read, body, packed, settle]


async def _outbox_stages(
    events: list[list[Any]], batch: int, repeats: int, points: int
) -> list[StageTime]:
    runs: list[list[_Spent]] = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="stats-stages-") as root:
            outbox = Outbox(Path(root) / "outbox.sqlite3", max_pending_events=10 * points)
            await outbox.start()
            try:
                runs.append(await _outbox_run(outbox, events, batch))
            finally:
                await outbox.stop()
    names = ["outbox_append", "outbox_read", "forward_body", "gzip", "outbox_settle"]
    return [
        _best([(run[i][0], run[i][1]) for run in runs], name, points)
        for i, name in enumerate(names)
    ]


def profile_stages(points: int = 20_000, batch: int = 5_000, repeats: int = 3) -> list[StageTime]:
    """Every stage for ``points`` points sent in requests of ``batch`` lines."""
    bodies = _bodies(points, batch)
    compressed = [gzip.compress(body, 1) for body in bodies]
    stages: list[StageTime] = []
    runs = [_timed(lambda: [gzip.decompress(c) for c in compressed])[0] for _ in range(repeats)]
    stages.append(_best(runs, "gunzip", points))
    timed = [_timed(lambda: [parse_lines(b).points for b in bodies]) for _ in range(repeats)]
    stages.append(_best([t for t, _ in timed], "parse_lines", points))
    parsed: list[list[ParsedPoint]] = timed[0][1]
    base = time.time_ns()
    timed = [_timed(lambda: _events(parsed, base)) for _ in range(repeats)]
    stages.append(_best([t for t, _ in timed], "event_from_point", points))
    # Fresh times per repeat would not matter: every repeat uses a fresh outbox.
    stages += asyncio.run(_outbox_stages(timed[0][1], batch, repeats, points))
    return stages


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    stages = profile_stages(args.points, args.batch, args.repeats)
    print(f"{'stage':18s} {'cpu us/pt':>10s} {'wall us/pt':>11s}")
    for stage in stages:
        print(f"{stage.name:18s} {stage.cpu_us_per_point:10.2f} {stage.wall_us_per_point:11.2f}")
    cpu = sum(s.cpu_us_per_point for s in stages)
    wall = sum(s.wall_us_per_point for s in stages)
    print(f"{'total':18s} {cpu:10.2f} {wall:11.2f}")


if __name__ == "__main__":
    main()
