"""What the console overview's summary costs, next to one page of ``GET /log/events``.

``python -m benchmarks.console_summary [--events N]`` fills an embedded store in a temp
dir with ``N`` events spread over the last hour, then times the summary (which reads the
whole hour, up to ``console_summary_max_events``) and, as the baseline measured in the
same run, one 100-event window query. It prints both medians and their ratio. Nothing
runs at import; the loop is bounded by ``--rounds``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from stats_service.console.summary import overview
from stats_service.events.model import Event
from stats_service.storage.base import EventQuery
from stats_service.storage.embedded import EmbeddedStore

__all__ = ["main"]

_NS_PER_SECOND = 1_000_000_000


async def _median_seconds(work: Callable[[], Awaitable[object]], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        await work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def _run(events: int, rounds: int, directory: Path) -> tuple[float, float]:
    store = EmbeddedStore(directory / "events.db")
    await store.open()
    try:
        now_ns = time.time_ns()
        step = 3600 * _NS_PER_SECOND // max(1, events)
        for first in range(0, events, 1000):
            await store.write(
                [
                    Event(
                        event_id=f"bench-{i}",
                        measurement="analytics",
                        time_ns=now_ns - 3500 * _NS_PER_SECOND + i * step // 2,
                        tags={"event": f"type-{i % 12}"},
                        fields={"uid": f"user-{i % 500}"},
                    )
                    for i in range(first, min(events, first + 1000))
                ]
            )

        async def summary() -> object:
            return await overview(
                store, now_ns=time.time_ns(), max_events=events + 1, page_size=1000
            )

        async def one_page() -> object:
            return await store.query(
                EventQuery(since_ns=now_ns - 3600 * _NS_PER_SECOND, until_ns=now_ns, limit=100)
            )

        baseline = await _median_seconds(one_page, rounds)
        measured = await _median_seconds(summary, rounds)
        return baseline, measured
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        baseline, measured = asyncio.run(_run(args.events, args.rounds, Path(directory)))
    print(f"one 100-event page (baseline): {baseline * 1000:8.1f} ms")
    print(f"summary of {args.events} events:  {measured * 1000:8.1f} ms")
    print(f"ratio summary / page:          {measured / baseline:8.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
