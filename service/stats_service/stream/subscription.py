"""One client's place in the live stream: a bounded buffer and its cursor.

The tailer pushes every new entry that passes the client's filter; a client
more than ``buffer_events`` behind is marked dropped (``slow_consumer``) and
its stream ends with an error message. ``next`` waits for the next entry, a
heartbeat timeout, or the end.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from stats_service.storage.log import LogEntry
from stats_service.stream.filters import StreamFilter

__all__ = ["Ended", "Ready", "Subscription"]


@dataclass(frozen=True, slots=True)
class Ready:
    """An event waiting to be sent: its id and its JSON, serialised once for every client."""

    event_id: str
    payload: bytes
    seq: int = 0
    """The log position of the entry."""
    cursor: str | None = None
    """What the client resumes from (the SSE ``id``); None: the event id."""

    @property
    def resume_id(self) -> str:
        """The cursor, or the event id when the log has no cursors."""
        return self.cursor or self.event_id


@dataclass(frozen=True, slots=True)
class Ended:
    """Why a stream ended on the service's side: a code and a message for the client."""

    reason: str
    """A label of ``stream_dropped_total``: ``slow_consumer`` or ``shutdown``."""
    message: str


class Subscription:
    """A client of the stream: identity, filter, buffer, and where it stands."""

    def __init__(self, identity: str, stream_filter: StreamFilter, *, capacity: int) -> None:
        self.identity = identity
        self.filter = stream_filter
        self._capacity = capacity
        self._buffer: deque[Ready] = deque()
        self._ready = asyncio.Event()
        self.ended: Ended | None = None
        self.opened_at = 0
        """The tailer's position when the client joined: live entries start after it."""
        self._seen: Callable[[int], bool] | None = None

    @property
    def buffered(self) -> int:
        """Entries waiting to be sent."""
        return len(self._buffer)

    def wants(self, entry: LogEntry) -> bool:
        """Whether ``entry`` passes the filter, was not seen before a resume, and the
        stream still runs."""
        return (
            self.ended is None
            and entry.event is not None
            and not (self._seen is not None and self._seen(entry.seq))
            and self.filter.matches(entry.event)
        )

    def skip_seen(self, seen: Callable[[int], bool]) -> None:
        """From now on skip the entries ``seen`` says the client already has (a resume),
        including those buffered since it joined."""
        self._seen = seen
        self._buffer = deque(ready for ready in self._buffer if not seen(ready.seq))

    def push(self, ready: Ready) -> bool:
        """Buffer ``ready`` (it passed :meth:`wants`); False when the buffer overflowed."""
        if len(self._buffer) >= self._capacity:
            return False
        self._buffer.append(ready)
        self._ready.set()
        return True

    def end(self, ended: Ended) -> None:
        """End the stream; what was buffered is dropped and ``next`` returns ``ended``."""
        if self.ended is None:
            self.ended = ended
            self._buffer.clear()
            self._ready.set()

    def drain(self, limit: int) -> list[Ready]:
        """Up to ``limit`` more buffered events, without waiting (to send them together)."""
        taken: list[Ready] = []
        while self._buffer and len(taken) < limit and self.ended is None:
            taken.append(self._buffer.popleft())
        return taken

    async def next(self, timeout_seconds: float) -> Ready | Ended | None:
        """The next entry, the end, or None after ``timeout_seconds`` of quiet."""
        if not self._buffer and self.ended is None:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout_seconds)
            except TimeoutError:
                return None
        if self.ended is not None:
            return self.ended
        return self._buffer.popleft()
