"""``stats-service monitors import FILE``, ``monitors export [FILE]`` and ``monitor-worker``.

The file is a JSON list of monitor definitions (the ``POST /monitors`` body,
plus an optional ``paused``), or an object with such a list under
``"monitors"``. Import is idempotent by name: a new name is created, a known
name whose definition differs is updated (keeping its id and data), an equal
one is left alone. Export writes every monitor in the same form, credentials
included (the file is the operator's), so export then import changes nothing.
A running service picks up imported monitors within a third of
``monitors_lease_seconds``.

``monitor-worker`` runs the checks in a process of their own (for big
installs): the same component as the service, results stored and ingested
through the configured event store, no HTTP. Leases keep each monitor on one
process however many workers and services share the monitor store. It stops
on SIGTERM or SIGINT, letting checks in flight finish.

``monitor-aggregate`` (with ``kafka_monitor_results_topic`` set) is a member
of the aggregators' consumer group: it applies the results the checkers
produced to the monitor store and commits after (see
:mod:`stats_service.monitors.results_topic`). It stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stats_service.errors import ConfigurationError, InvalidInput
from stats_service.monitors.component import build_monitor_store
from stats_service.monitors.model import Monitor, MonitorSpec, new_monitor_id
from stats_service.monitors.results_topic import ResultAggregator
from stats_service.monitors.service import invalid_spec
from stats_service.monitors.store import MonitorStore
from stats_service.settings import Settings

__all__ = [
    "export_monitors",
    "import_monitors",
    "register_monitor_commands",
    "run_aggregator",
    "run_worker",
]


def register_monitor_commands(
    commands: argparse._SubParsersAction[Any],
    parents: list[argparse.ArgumentParser],
) -> None:
    """Add the ``monitors`` command group to the ``stats-service`` parser."""
    monitors = commands.add_parser(
        "monitors", help="import and export HTTP monitors"
    ).add_subparsers(title="monitors commands")
    load = monitors.add_parser(
        "import", parents=parents, help="create or update monitors from a JSON file, by name"
    )
    load.add_argument("file", type=Path)
    load.set_defaults(command=_import_command)
    dump = monitors.add_parser("export", parents=parents, help="write every monitor as JSON")
    dump.add_argument("file", type=Path, nargs="?", help="default: stdout")
    dump.set_defaults(command=_export_command)
    worker = commands.add_parser(
        "monitor-worker", parents=parents, help="run the monitor checks without serving HTTP"
    )
    worker.set_defaults(command=_worker_command)
    aggregate = commands.add_parser(
        "monitor-aggregate",
        parents=parents,
        help="apply check results from the Kafka results topic to the monitor store",
    )
    aggregate.set_defaults(command=_aggregate_command)


def _import_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        document = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except OSError as exc:
        print(f"stats-service: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    except json.JSONDecodeError as exc:
        print(f"stats-service: {args.file} is not JSON: {exc}", file=sys.stderr)
        return 1
    counts = asyncio.run(_with_store(settings, lambda store: import_monitors(store, document)))
    print(
        "monitors: {created} created, {updated} updated, {unchanged} unchanged".format(**counts),
        file=sys.stderr,
    )
    return 0


def _export_command(settings: Settings, args: argparse.Namespace) -> int:
    document = asyncio.run(_with_store(settings, export_monitors))
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if args.file is None:
        sys.stdout.write(text)
    else:
        Path(args.file).write_text(text, encoding="utf-8")
    print(f"monitors: {len(document)} exported", file=sys.stderr)
    return 0


async def _with_store(settings: Settings, work: Any) -> Any:
    store = build_monitor_store(settings)
    await store.open()
    try:
        return await work(store)
    finally:
        await store.close()


def _definitions(document: Any) -> list[tuple[MonitorSpec, bool]]:
    items = document.get("monitors") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise InvalidInput('the file must hold a JSON list of monitors (or {"monitors": [...]})')
    out: list[tuple[MonitorSpec, bool]] = []
    names: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidInput(f"monitors[{index}] must be a JSON object")
        body = {k: v for k, v in item.items() if k not in ("paused", "id")}
        try:
            spec = MonitorSpec.model_validate(body)
        except ValidationError as exc:
            raise invalid_spec(exc, f"monitors[{index}]") from None
        if spec.name in names:
            raise InvalidInput(f"monitors[{index}]: the name {spec.name!r} appears twice")
        names.add(spec.name)
        out.append((spec, bool(item.get("paused", False))))
    return out


async def import_monitors(store: MonitorStore, document: Any) -> dict[str, int]:
    """Create or update monitors by name; counts of created, updated and unchanged.

    Every definition is validated before anything is written.
    """
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    start = time.time()
    for index, (spec, paused) in enumerate(_definitions(document)):
        now = start + index * 1e-6  # keeps the file's order in listings
        existing = await store.find_monitor(spec.name)
        if existing is None:
            await store.add_monitor(
                Monitor(
                    id=new_monitor_id(), spec=spec, paused=paused, created_at=now, updated_at=now
                )
            )
            counts["created"] += 1
        elif existing.spec == spec and existing.paused == paused:
            counts["unchanged"] += 1
        else:
            await store.replace_monitor(
                existing.model_copy(update={"spec": spec, "paused": paused, "updated_at": now})
            )
            counts["updated"] += 1
    return counts


async def export_monitors(store: MonitorStore) -> list[dict[str, Any]]:
    """Every monitor as an import definition (``paused`` included)."""
    return [
        {**monitor.spec.model_dump(mode="json"), "paused": monitor.paused}
        for monitor in await store.list_monitors()
    ]


def _worker_command(settings: Settings, args: argparse.Namespace) -> int:
    del args
    asyncio.run(run_worker(settings))
    return 0


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Check monitors until ``stop`` is set (or SIGTERM/SIGINT arrives)."""
    from stats_service.backends import build_store  # noqa: PLC0415
    from stats_service.ingest import Ingestor  # noqa: PLC0415 - only the worker needs these
    from stats_service.monitors.component import MonitorsComponent  # noqa: PLC0415

    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    events = build_store(settings)
    await events.open()
    component = MonitorsComponent(settings)
    try:
        ingestor = Ingestor(
            events,
            measurement=settings.measurement,
            limits=settings.limits,
            tag_keys=frozenset(settings.tag_keys),
        )
        await component.open(ingestor)
        print(f"monitor-worker {component.holder}: running", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await component.stop()
        await events.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def _aggregate_command(settings: Settings, args: argparse.Namespace) -> int:
    del args
    asyncio.run(run_aggregator(settings))
    return 0


async def run_aggregator(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Apply results from the results topic until ``stop`` is set (or SIGTERM/SIGINT)."""
    if not settings.kafka_monitor_results_topic:
        raise ConfigurationError("monitor-aggregate needs kafka_monitor_results_topic")
    from stats_service.backends import kafka_config  # noqa: PLC0415 - kafka mode only
    from stats_service.delivery.kafka.consumer import EventConsumer  # noqa: PLC0415

    config = dataclasses.replace(
        kafka_config(settings),
        topic=settings.kafka_monitor_results_topic,
        group=settings.kafka_monitor_aggregator_group,
    )
    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    store = build_monitor_store(settings)
    await store.open()
    aggregator = ResultAggregator(EventConsumer(config), store)
    try:
        await aggregator.start()
        print("monitor-aggregate: running", file=sys.stderr, flush=True)
        await aggregator.run(stop)
    finally:
        await aggregator.stop()
        await store.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
