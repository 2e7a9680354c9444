"""The durable log as a cursor: what the live stream tails.

A store that can be tailed numbers its events in commit order (``seq``: the
SQLite rowid, assigned under the database's single write lock, so a reader
never sees a higher number before a lower one). ``read_after(seq)`` returns
what was committed after a position; ``position_of(event_id)`` turns an event
id a client last saw back into a position. Every process sharing the data dir
sees the same numbers, so a tail works across uvicorn workers and replicas.

A log whose positions are local to one process (the Kafka tail: each API
replica numbers what it reads of the topic's partitions in its own order) is
also a :class:`ResumableLog`: its entries carry a ``cursor`` (the id a client
resumes from, valid on every replica), and :meth:`ResumableLog.resume_point`
turns one back into a local position plus which later entries the client
has already seen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from stats_service.events.model import Event

__all__ = ["EventLog", "LiveLog", "LiveLogSource", "LogEntry", "ResumableLog", "ResumePoint"]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One committed event at its position; ``event`` is None when only the id is
    kept here (the outbox after forwarding: the backend holds the event)."""

    seq: int
    event_id: str
    event: Event | None
    cursor: str | None = None
    """What a client resumes from (the SSE ``id``); None: the event id."""


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


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where a resuming client continues: after ``position``, skipping what it has seen."""

    position: int
    seen: Callable[[int], bool] | None = None
    """Whether the entry at a later position was already sent to the client."""


@runtime_checkable
class ResumableLog(Protocol):
    """A log whose clients resume from a cursor rather than from an event id."""

    async def resume_point(self, token: str) -> ResumePoint | None:
        """Where to continue after ``token`` (a cursor or an event id); None when not kept."""
        ...


@runtime_checkable
class LiveLog(Protocol):
    """A log that runs while it is followed (it reads a remote log into memory)."""

    @property
    def failing(self) -> bool:
        """Whether its last read of the remote log failed."""
        ...

    async def start(self) -> None:
        """Start reading."""
        ...

    async def stop(self) -> None:
        """Stop reading and release the connection."""
        ...


@runtime_checkable
class LiveLogSource(Protocol):
    """A queue that is not a log itself but can open one to follow (the Kafka topic)."""

    def live_log(self) -> EventLog:
        """A new log following the queue; it may also be a :class:`LiveLog` to start."""
        ...
