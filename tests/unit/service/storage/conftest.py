"""Helpers shared by the SQLite-backed store tests: a gate that holds the writer thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable

import pytest

SAFETY_SECONDS = 10.0


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
