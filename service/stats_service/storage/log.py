"""The durable log as a cursor: what the live stream tails.

A store that can be tailed numbers its events in commit order (``seq``: the
SQLite rowid, assigned under the database's single write lock, so a reader
never sees a higher number before a lower one). ``read_after(seq)`` returns
what was committed after a position; ``position_of(event_id)`` turns an event
id a client last saw back into a position. Every process sharing the data dir
sees the same numbers, so a tail works across uvicorn workers and replicas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from stats_service.events.model import Event

__all__ = ["EventLog", "LogEntry"]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One committed event at its position; ``event`` is None when only the id is
    kept here (the outbox after forwarding: the backend holds the event)."""

    seq: int
    event_id: str
    event: Event | None


@runtime_checkable
class EventLog(Protocol):
    """A store whose committed events can be read in commit order."""

    async def read_after(self, seq: int, limit: int) -> list[LogEntry]:
        """Up to ``limit`` entries with a position above ``seq``, in order."""
        ...

    async def position_of(self, event_id: str) -> int | None:
        """The position of the event with this id, or None when it is not (any more) kept."""
        ...

    async def head(self) -> int:
        """The position of the newest committed event (0 when empty)."""
        ...
