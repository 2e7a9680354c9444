"""Fixtures shared by the service's unit tests, and a gate that holds an SQLite writer."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable

import pytest

from stats_service.events.model import Event, FieldValue

T0 = 1_700_000_000_000_000_000
"""The default event time of ``make_event`` (ns since the epoch)."""

SAFETY_SECONDS = 10.0
"""Upper bound on a gate's real waits."""


@pytest.fixture
def make_event() -> Callable[..., Event]:
    """Build an event with sensible defaults; every part can be overridden."""

    def build(
        event_id: str = "e-1",
        *,
        time_ns: int = T0,
        measurement: str = "analytics",
        event: str | None = "signup",
        uid: FieldValue | None = "user-1",
        tags: dict[str, str] | None = None,
        fields: dict[str, FieldValue] | None = None,
    ) -> Event:
        all_tags = {} if event is None else {"event": event}
        all_tags.update(tags or {})
        all_fields: dict[str, FieldValue] = {} if uid is None else {"uid": uid}
        all_fields.update(fields or {})
        return Event(
            event_id=event_id,
            measurement=measurement,
            time_ns=time_ns,
            tags=all_tags,
            fields=all_fields,
        )

    return build


class Gate:
    """A writer unit that holds the writer thread until released, so tests control grouping."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, conn: sqlite3.Connection) -> str:
        self.entered.set()
        assert self.release.wait(SAFETY_SECONDS)
        return "gate"

    def wait_entered(self) -> None:
        assert self.entered.wait(SAFETY_SECONDS)


async def _until(predicate: Callable[[], bool]) -> None:
    # Polls state another thread changes; there is no asyncio event to await.
    while not predicate():  # noqa: ASYNC110
        await asyncio.sleep(0.001)


@pytest.fixture
def gate() -> Gate:
    """A fresh gate (released by the test)."""
    return Gate()


@pytest.fixture
def until() -> Callable[[Callable[[], bool]], Awaitable[None]]:
    """``await until(predicate)``: poll until another thread makes ``predicate`` true."""
    return _until
