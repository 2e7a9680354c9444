"""The events topic as the live stream's log: every replica reads every partition.

Each API replica runs one :class:`KafkaTail`: a reader outside the
forwarders' group (:class:`~stats_service.delivery.kafka.tail_reader.TopicTail`
assigns itself every partition, commits nothing) that starts at the end of
the topic and keeps the newest ``retain_events`` events in memory, numbered
in the order this replica read them. That number is the
:class:`~stats_service.storage.log.EventLog` position the stream's tailer
follows, so an event posted to any replica reaches the streams of all.

Positions are local: two replicas interleave the partitions differently. So
every entry also carries a cursor, ``<event_id>@<o0>.<o1>...``: for each
partition (by number) the next offset not yet read when the entry was. The
SSE ``id`` is that cursor; a client resuming with it on any replica gets, in
this replica's order, exactly the messages at or past those offsets (the
others it already saw are skipped, in the replay and live). A plain event id
resumes with this replica's own cursor for it: exact on the replica that
served it. A resume point older than what is kept answers 410.

An id that arrives twice (a producer retry) is shown once while its first
copy is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Mapping
from itertools import islice
from typing import Protocol

from stats_service.delivery.kafka.codec import decode_event
from stats_service.delivery.kafka.consumer import Message
from stats_service.storage.log import LogEntry, ResumePoint

__all__ = ["KafkaTail", "TailReader", "format_cursor", "parse_cursor"]

_log = logging.getLogger(__name__)

_POLL_MESSAGES = 500
_CURSOR_MARK = "@"
_MAX_DIGITS = 19  # an int64 offset


class TailReader(Protocol):
    """Reads every partition of the topic, outside any group (real: ``TopicTail``)."""

    async def open(self) -> None:
        """Connect (no partitions yet)."""
        ...

    async def refresh(self) -> dict[int, int]:
        """Assign partitions not read yet; each new one with the offset it starts at
        (the end for those there at the first refresh, the beginning for later ones)."""
        ...

    async def poll(self, max_messages: int, timeout_seconds: float) -> list[Message]:
        """Up to ``max_messages`` messages of the assigned partitions."""
        ...

    async def close(self) -> None:
        """Disconnect."""
        ...


def format_cursor(event_id: str, next_offsets: Mapping[int, int]) -> str:
    """``<event_id>@<o0>.<o1>...``: the next offset of every partition (0 when unknown)."""
    width = max(next_offsets, default=-1) + 1
    return event_id + _CURSOR_MARK + ".".join(str(next_offsets.get(p, 0)) for p in range(width))


def parse_cursor(token: str) -> tuple[str, dict[int, int]] | None:
    """``(event_id, partition -> next offset)`` of a cursor; None when ``token`` is none
    (an event id cannot contain ``@``)."""
    event_id, mark, offsets = token.rpartition(_CURSOR_MARK)
    if not mark or not event_id:
        return None
    parts = offsets.split(".")
    if not all(part.isascii() and part.isdigit() and len(part) <= _MAX_DIGITS for part in parts):
        return None
    return event_id, {partition: int(part) for partition, part in enumerate(parts)}


class KafkaTail:
    """An :class:`~stats_service.storage.log.EventLog` (and ``ResumableLog``, ``LiveLog``)
    over the events topic, read by this process alone."""

    def __init__(
        self,
        reader: TailReader,
        *,
        retain_events: int = 10_000,
        poll_seconds: float = 0.1,
        refresh_seconds: float = 5.0,
    ) -> None:
        self._reader = reader
        self._retain = max(1, retain_events)
        self._poll_seconds = poll_seconds
        self._refresh_seconds = refresh_seconds
        self._entries: deque[LogEntry] = deque()
        self._places: deque[tuple[int, int]] = deque()  # (partition, offset) of each entry
        self._index: dict[str, int] = {}  # event id -> position, for the entries kept
        self._next: dict[int, int] = {}  # partition -> next offset to read
        self._floor: dict[int, int] = {}  # partition -> oldest offset still accounted for
        self._seq = 0
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    @property
    def failing(self) -> bool:
        """Whether the last read of the topic failed."""
        return self._failing

    async def start(self) -> None:
        """Connect, assign the partitions there now at their end, and start reading."""
        if self._task is not None:
            return
        await self._reader.open()
        try:
            self._assigned(await self._reader.refresh())
        except Exception:  # noqa: BLE001 -- no broker yet: the reading task tries again
            _log.warning("the events topic is not readable yet; the live stream waits for it")
            self._failing = True
        self._task = asyncio.create_task(self._run(), name="kafka-stream-tail")

    async def stop(self) -> None:
        """Stop reading and disconnect."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self._reader.close()

    def _assigned(self, partitions: Mapping[int, int]) -> None:
        for partition, offset in partitions.items():
            self._next.setdefault(partition, offset)
            self._floor.setdefault(partition, offset)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        refresh_at = loop.time() + self._refresh_seconds
        while True:
            try:
                if loop.time() >= refresh_at or not self._next:
                    self._assigned(await self._reader.refresh())
                    refresh_at = loop.time() + self._refresh_seconds
                if not self._next:
                    await asyncio.sleep(self._poll_seconds)
                    continue
                self.ingest(await self._reader.poll(_POLL_MESSAGES, self._poll_seconds))
                self._failing = False
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 -- the brokers come back; never fatal
                if not self._failing:
                    _log.exception("reading the events topic for the live stream failed")
                self._failing = True
                await asyncio.sleep(max(self._poll_seconds, 0.5))

    def ingest(self, messages: list[Message]) -> int:
        """Number and keep ``messages`` (read in this order); how many were new events."""
        kept = 0
        for message in messages:
            if message.offset < self._next.get(message.partition, 0):
                continue  # read before (a reassignment)
            self._next[message.partition] = message.offset + 1
            try:
                event = decode_event(message.key, message.value)
            except ValueError:
                continue  # not an event: the forwarder dead-letters it
            if event.event_id in self._index:
                continue  # a producer's retry: shown once
            self._seq += 1
            cursor = format_cursor(event.event_id, self._next)
            self._entries.append(LogEntry(self._seq, event.event_id, event, cursor))
            self._places.append((message.partition, message.offset))
            self._index[event.event_id] = self._seq
            kept += 1
        while len(self._entries) > self._retain:
            entry = self._entries.popleft()
            partition, offset = self._places.popleft()
            self._floor[partition] = max(self._floor.get(partition, 0), offset + 1)
            if self._index.get(entry.event_id) == entry.seq:
                del self._index[entry.event_id]
        return kept

    # -- EventLog ---------------------------------------------------------------

    def _first_seq(self) -> int:
        return self._entries[0].seq if self._entries else self._seq + 1

    async def read_after(self, seq: int, limit: int) -> list[LogEntry]:
        """Up to ``limit`` kept entries after position ``seq``."""
        start = max(0, seq + 1 - self._first_seq())
        return list(islice(self._entries, start, start + limit))

    async def position_of(self, event_id: str) -> int | None:
        """The position of the kept event with this id (or of a cursor's event)."""
        parsed = parse_cursor(event_id)
        return self._index.get(event_id if parsed is None else parsed[0])

    async def head(self) -> int:
        """The newest position."""
        return self._seq

    # -- ResumableLog -------------------------------------------------------------

    async def resume_point(self, token: str) -> ResumePoint | None:
        """After a cursor (or this replica's cursor of an event id): the position before
        the first entry the client has not seen, and which later ones it has."""
        parsed = parse_cursor(token)
        if parsed is None:
            seq = self._index.get(token)
            if seq is None:
                return None
            cursor = self._entries[seq - self._first_seq()].cursor
            parsed = None if cursor is None else parse_cursor(cursor)
            if parsed is None:
                return None
        _event_id, seen_up_to = parsed
        for partition, floor in self._floor.items():
            if seen_up_to.get(partition, 0) < floor:
                return None  # what the client did not see of this partition is gone
        position = self._seq
        for entry, (partition, offset) in zip(self._entries, self._places, strict=True):
            if offset >= seen_up_to.get(partition, 0):
                position = entry.seq - 1
                break

        def seen(seq: int) -> bool:
            index = seq - self._first_seq()
            if not 0 <= index < len(self._places):
                return False
            partition, offset = self._places[index]
            return offset < seen_up_to.get(partition, 0)

        return ResumePoint(position, seen)
