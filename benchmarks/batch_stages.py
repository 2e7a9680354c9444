"""Where the CPU of one JSON batch goes, in process: decode, validate, the rest.

The bodies are the batch benchmark's (:func:`benchmarks.ingest_vs_raw_write.payload`),
as a JSON array and as NDJSON. Each stage runs on its own, timed by the best
of ``--repeats`` runs in CPU time of this thread (so that other processes on
a busy machine count less), and is reported in microseconds per event:

* **decode**: the body to Python values, as the route does it
  (``api.body.decode_json`` or ``decode_ndjson``);
* **validate**: the event model over the decoded items (``parse_item``, as
  ``Ingestor.log_batch`` calls it);
* **ingest**: ``Ingestor.log_batch`` over a store that keeps nothing
  (validation plus the ingestor's own work);
* **answer**: encoding the response body.

The baseline is ``orjson.loads`` of the same body, measured in the same run:
each stage is also printed as a multiple of it. Nothing here touches the
network or the disk. Run from the repository root::

    python -m benchmarks.batch_stages [--events 5000] [--repeats 15]

Pointing ``PYTHONPATH`` at another checkout's ``service`` directory measures
that checkout's code with the same script (how before/after figures are made).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import orjson

from benchmarks.ingest_vs_raw_write import IDENTITY, payload
from stats_service.api import body as body_module
from stats_service.events.model import Event, Limits, parse_item
from stats_service.ingest import Ingestor
from stats_service.storage.base import EventStore

__all__ = ["main", "stage_profile"]


class _NullStore:
    async def write(self, events: Sequence[Event]) -> None:
        del events


def _best(call: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.thread_time()
        call()
        best = min(best, time.thread_time() - start)
    return best


def stage_profile(events: int, repeats: int) -> dict[str, dict[str, float]]:
    """Microseconds per event of each stage, for the JSON and the NDJSON body."""
    items = [payload(number) for number in range(events)]
    bodies = {
        "json": orjson.dumps(items),
        "ndjson": b"\n".join(orjson.dumps(item) for item in items),
    }
    limits = Limits()
    ingestor = Ingestor(cast(EventStore, _NullStore()), measurement="analytics", limits=limits)
    results: dict[str, dict[str, float]] = {}
    for kind, body in bodies.items():
        if kind == "json":
            decode: Callable[[], Any] = lambda: body_module.decode_json(body)  # noqa: E731, B023
        else:
            decode = lambda: body_module.decode_ndjson(body)[0]  # noqa: E731, B023
        decoded = decode()

        def validate(decoded: list[Any] = decoded) -> None:
            for index, item in enumerate(decoded):
                parse_item(
                    item, identity=IDENTITY, measurement="analytics", now_ns=index, limits=limits
                )

        def ingest(decoded: list[Any] = decoded) -> None:
            asyncio.run(ingestor.log_batch(decoded, IDENTITY))

        outcome = asyncio.run(ingestor.log_batch(decoded, IDENTITY))
        answer_body = {"accepted": len(outcome.ids), "ids": outcome.ids, "rejected": []}
        baseline = (
            (lambda: orjson.loads(body))  # noqa: B023
            if kind == "json"
            else (lambda: [orjson.loads(line) for line in body.split(b"\n")])  # noqa: B023
        )
        stages = {
            "orjson_baseline": baseline,
            "decode": decode,
            "validate": validate,
            "ingest": ingest,
            "answer": lambda: orjson.dumps(answer_body),  # noqa: B023
        }
        results[kind] = {name: _best(call, repeats) / events * 1e6 for name, call in stages.items()}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="events per body")
    parser.add_argument("--repeats", type=int, default=15, help="runs per stage (best is kept)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    results = stage_profile(args.events, args.repeats)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for kind, stages in results.items():
        baseline = stages["orjson_baseline"]
        print(f"{kind} body, {args.events} events (us per event, x orjson.loads):")
        for name, value in stages.items():
            print(f"  {name:16s} {value:7.3f}  {value / baseline:5.2f}x")
        total = stages["decode"] + stages["ingest"] + stages["answer"]
        print(f"  {'decode+ingest+answer':16s} {total:7.3f}  {total / baseline:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
