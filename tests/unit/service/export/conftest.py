"""Helpers of the export unit tests: events in a memory store, packages built in a temp dir."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from stats_service.events.model import Event
from stats_service.export.collect import Collector, config, event_counts, events
from stats_service.export.package import BuiltPackage, Package, PackageLimits
from stats_service.export.window import Window, to_ns
from stats_service.settings import load_settings
from stats_service.storage.memory import MemoryStore

NOV_1 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
NOV_4 = dt.datetime(2026, 11, 4, tzinfo=dt.UTC)
EVENT_TYPES = ("app.open", "app.close", "user.login")
IDENTITIES = ("web", "ios")


def make_events(
    count: int, *, since: dt.datetime = NOV_1, days: int = 3, seed: int = 7
) -> list[Event]:
    """``count`` events spread over ``days`` days from ``since``, reproducibly."""
    rng = random.Random(seed)
    start = to_ns(since)
    span = days * 86_400 * 10**9
    return [
        Event(
            event_id=f"e{number:08d}",
            measurement="analytics",
            time_ns=start + rng.randrange(span),
            tags={"event": rng.choice(EVENT_TYPES), "identity": rng.choice(IDENTITIES)},
            fields={"uid": f"u{rng.randrange(50)}", "n": number, "ok": number % 2 == 0},
        )
        for number in range(count)
    ]


def filled_store(items: list[Event]) -> MemoryStore:
    store = MemoryStore()

    async def fill() -> None:
        await store.open()
        await store.write(items)

    asyncio.run(fill())
    return store


def build_packages(
    collectors: list[Collector], window: Window, out: Path, limits: PackageLimits | None = None
) -> list[BuiltPackage]:
    package = Package(collectors, window=window, limits=limits, clock=lambda: window.until)

    async def build() -> list[BuiltPackage]:
        return [p async for p in package.build(out)]

    out.mkdir(parents=True, exist_ok=True)
    return asyncio.run(build())


@pytest.fixture(scope="session")
def window() -> Window:
    return Window(NOV_1, NOV_4)


@pytest.fixture(scope="session")
def standard_collectors() -> Callable[[MemoryStore], list[Collector]]:
    settings = load_settings(
        environ={}, secret_keys=("k" * 40,), export_s3_secret_key="s3-secret-value"
    )

    def make(store: MemoryStore) -> list[Collector]:
        return [config(settings), event_counts(store), events(store)]

    return make


@pytest.fixture(name="make_events", scope="session")
def _make_events() -> Callable[..., list[Event]]:
    """``make_events(count, since=..., days=..., seed=...)``."""
    return make_events


@pytest.fixture(name="filled_store", scope="session")
def _filled_store() -> Callable[[list[Event]], MemoryStore]:
    """``filled_store(events)``: an open memory store holding them."""
    return filled_store


@pytest.fixture(name="build_packages", scope="session")
def _build_packages() -> Callable[..., list[BuiltPackage]]:
    """``build_packages(collectors, window, out_dir, limits=None)``: every package, built."""
    return build_packages
