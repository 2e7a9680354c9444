"""The SQLite outbox: one implementation of the durable queue (see the package docstring)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from stats_service.delivery.lease import FileLease, ForwardingLease, lease_path
from stats_service.delivery.outbox.log import read_head, read_log_after, read_position
from stats_service.delivery.outbox.reads import (
    read_batch,
    read_counts,
    read_deadletters,
    read_pending,
)
from stats_service.delivery.outbox.rows import OUTBOX_COLUMNS, decode_row
from stats_service.delivery.outbox.schema import MIGRATIONS, NS_PER_SECOND, PRUNE_CHUNK_ROWS
from stats_service.delivery.outbox.writes import (
    ROW_SIZE,
    Full,
    Row,
    append_unit,
    prune_unit,
    record_error_unit,
    recount,
    replay_unit,
    rows_of,
    rows_of_lines,
    settle_unit,
)
from stats_service.delivery.queue import (
    Appended,
    DeadLetter,
    OutboxCounts,
    OutboxEntry,
    OutboxFull,
    OutboxStatus,
    Rejection,
)
from stats_service.errors import ServiceUnavailable
from stats_service.events.model import Event
from stats_service.events.query import EventPage, EventQuery
from stats_service.sqlite import SQLiteReader, SQLiteWriter
from stats_service.sqlite.window import read_window
from stats_service.storage.influx.stored import EncodedEvent
from stats_service.storage.log import LogEntry

__all__ = ["Outbox"]


def _record_backend(backend: str) -> Callable[[sqlite3.Connection], None]:
    def record(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE outbox_meta SET backend = ? WHERE id = 0", (backend,))

    return record


class Outbox:
    """The outbox file, a :class:`~stats_service.delivery.queue.DurableQueue`.

    ``start``/``stop`` are the queue's async lifecycle: the file is opened
    (created unless ``create`` is false) and, when ``repair_on_start``, its
    counters recomputed from the rows. ``open``/``close`` open and close the
    file alone, blocking (tests, scripts). The async methods need a running
    loop; the ``*_sync`` variants work without one. Either works with or
    without the service running on the same file (SQLite serialises the
    writers of both processes). One process forwards
    an outbox at a time: the one holding :meth:`forwarding_lease`.
    ``backend`` (given by the service: its storage backend's name) is
    recorded in the file on ``start``; :meth:`recorded_backend` reads it.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_pending_events: int = 1_000_000,
        max_pending_bytes: int = 1 << 30,
        dedupe_window_seconds: float = 86_400.0,
        clock_ns: Callable[[], int] = time.time_ns,
        max_group_units: int = 1000,
        read_connections: int = 3,
        busy_timeout_seconds: float = 5.0,
        create: bool = True,
        repair_on_start: bool = True,
        backend: str | None = None,
    ) -> None:
        if max_pending_events < 1 or max_pending_bytes < 1:
            raise ValueError("the outbox bounds must be positive")
        self._path = path
        self._max_events = max_pending_events
        self._max_bytes = max_pending_bytes
        self._window_ns = int(dedupe_window_seconds * NS_PER_SECOND)
        self._clock_ns = clock_ns
        self._max_group_units = max_group_units
        self._read_connections = read_connections
        self._busy_timeout = busy_timeout_seconds
        self._create = create
        self._repair_on_start = repair_on_start
        self._backend = backend
        self._writer: SQLiteWriter | None = None
        self._reader: SQLiteReader | None = None

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path

    @property
    def max_pending_events(self) -> int:
        """The bound on pending events."""
        return self._max_events

    @property
    def max_pending_bytes(self) -> int:
        """The bound on pending bytes (each event's stored line; see ``.rows``)."""
        return self._max_bytes

    @property
    def writable(self) -> bool:
        """Whether appends can be committed now (the writer thread runs)."""
        return self._writer is not None and self._writer.running

    @property
    def commits(self) -> int:
        """Transactions committed by this process (one fsync each)."""
        return 0 if self._writer is None else self._writer.commits

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Open the file (and repair the counters, if asked) off the event loop."""
        await asyncio.to_thread(self.open)
        if not self._repair_on_start and self._backend is None:
            return
        try:
            if self._repair_on_start:
                await asyncio.to_thread(self.repair_counts_sync)
            if self._backend is not None:
                await self._require_writer().submit(_record_backend(self._backend))
        except BaseException:
            await asyncio.to_thread(self.close)
            raise

    async def stop(self, timeout_seconds: float = 10.0) -> bool:
        """:meth:`close` off the event loop."""
        return await asyncio.to_thread(self.close, timeout_seconds)

    def forwarding_lease(self) -> ForwardingLease:
        """An exclusive ``flock`` on a file beside the outbox (see ``delivery.lease``)."""
        return FileLease(lease_path(self._path))

    def open(self, *, create: bool | None = None) -> None:
        """Start the writer (creating the directory and schema if missing); blocks.

        ``create=False`` (the command line; default: the ``create`` given to
        the constructor) raises ``FileNotFoundError`` instead of creating an
        outbox where none exists.
        """
        if self._writer is not None:
            return
        if create is None:
            create = self._create
        if not create and not self._path.exists():
            raise FileNotFoundError(f"no outbox at {self._path}")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        writer = SQLiteWriter(
            self._path,
            migrations=MIGRATIONS,
            thread_name=f"stats-outbox-writer[{self._path.name}]",
            max_batch_units=self._max_group_units,
            busy_timeout_seconds=self._busy_timeout,
        )
        writer.open()
        self._writer = writer
        self._reader = SQLiteReader(
            self._path,
            max_connections=self._read_connections,
            busy_timeout_seconds=self._busy_timeout,
            thread_name_prefix=f"stats-outbox-reader[{self._path.name}]",
        )

    def close(self, timeout_seconds: float = 10.0) -> bool:
        """Commit what is queued and release the file; False if the writer overran."""
        writer, reader = self._writer, self._reader
        self._writer = self._reader = None
        drained = True
        if writer is not None:
            drained = writer.close(timeout_seconds)
        if reader is not None:
            reader.close()
        return drained

    # -- the write path ------------------------------------------------------

    async def append(self, events: Sequence[Event]) -> Appended:
        """Commit ``events`` as pending; how many were new (the rest had known ids).

        All or nothing: raises :class:`OutboxFull` when the new events would
        exceed a bound, ``InvalidEvent`` for a non-finite field, and
        ``ServiceUnavailable`` when the file cannot be written.
        """
        return await self._append_rows(rows_of(events))

    async def append_lines(self, events: Sequence[EncodedEvent]) -> Appended:
        """:meth:`append` of events already encoded (a
        :class:`~stats_service.delivery.queue.LineAppender`): their lines are stored as given."""
        return await self._append_rows(rows_of_lines(events))

    async def _append_rows(self, rows: list[Row]) -> Appended:
        writer = self._require_writer()
        unit = append_unit(rows, self._clock_ns(), self._max_events, self._max_bytes)
        try:
            appended = await writer.submit(unit, size_bytes=sum(row[ROW_SIZE] for row in rows))
        except Full as full:
            raise OutboxFull(
                f"the outbox is full ({full.pending_events} events, {full.pending_bytes} bytes"
                f" pending; bounds {self._max_events} events, {self._max_bytes} bytes):"
                f" cannot accept {full.events} more events now"
            ) from None
        except sqlite3.Error as exc:
            raise ServiceUnavailable(f"the outbox cannot commit: {exc}") from None
        return appended

    async def next_batch(
        self, max_events: int, max_bytes: int, *, after_seq: int = 0
    ) -> list[OutboxEntry]:
        """The oldest pending entries after ``after_seq``: at most ``max_events``, and
        ``max_bytes`` (one larger entry still comes alone)."""
        return await self._require_reader().run(read_batch(max_events, max_bytes, after_seq))

    async def settle(
        self, forwarded: Sequence[OutboxEntry], rejected: Sequence[Rejection] = ()
    ) -> int:
        """In one transaction: mark ``forwarded`` delivered, dead-letter ``rejected``.

        Returns the number of events still pending afterwards.
        """
        return await self._require_writer().submit(
            settle_unit(forwarded, rejected, self._clock_ns())
        )

    async def record_error(self, text: str) -> None:
        """Remember the last delivery error (shown by status until a delivery succeeds)."""
        await self._require_writer().submit(record_error_unit(text, self._clock_ns()))

    async def prune(self) -> int:
        """Delete forwarded rows older than the dedupe window; how many were deleted."""
        writer = self._require_writer()
        cutoff = self._clock_ns() - self._window_ns
        total = 0
        while True:
            deleted = await writer.submit(prune_unit(cutoff))
            total += deleted
            if deleted < PRUNE_CHUNK_ROWS:
                return total

    # -- reads ---------------------------------------------------------------

    async def get_pending(self, event_id: str) -> Event | None:
        """The pending event with this id, or None (forwarded, dead-lettered or unknown)."""

        return await self._require_reader().run(read_pending(event_id))

    async def read_after(self, seq: int, limit: int) -> list[LogEntry]:
        """Up to ``limit`` accepted events after position ``seq`` (see :mod:`.log`)."""
        return await self._require_reader().run(read_log_after(seq, limit))

    async def position_of(self, event_id: str) -> int | None:
        """The position of the event with this id, or None once pruned."""
        return await self._require_reader().run(read_position(event_id))

    async def head(self) -> int:
        """The newest position (0 when empty)."""
        return await self._require_reader().run(read_head)

    async def query_pending(self, query: EventQuery) -> EventPage:
        """Pending events in the window by ``(time_ns, event_id)``, like a store's ``query``."""
        if query.limit < 1:
            raise ValueError("query limit must be at least 1")
        if query.since_ns >= query.until_ns:
            return EventPage(events=[], next_after=None)
        events = await self._require_reader().run(
            read_window(
                "outbox", query, where="state = 0", columns=OUTBOX_COLUMNS, decode=decode_row
            )
        )
        return EventPage.of_candidates(events, query.limit)

    async def recorded_backend(self) -> str | None:
        """The backend of the service that last started on this outbox; None when
        the file predates that record and no service has started on it since."""

        def read(conn: sqlite3.Connection) -> str | None:
            (backend,) = conn.execute("SELECT backend FROM outbox_meta WHERE id = 0").fetchone()
            return None if backend is None else str(backend)

        return await self._require_reader().run(read)

    async def served_since(self, event_ids: Sequence[str], since_ns: int) -> set[str]:
        """Those of ``event_ids`` pending now or forwarded at or after ``since_ns``
        (``delivery.partial``)."""
        ids = list(dict.fromkeys(event_ids))

        def read(conn: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(
                    event_id
                    for (event_id,) in conn.execute(
                        f"SELECT event_id FROM outbox WHERE event_id IN ({marks})"  # noqa: S608 -- placeholders only
                        " AND (state = 0 OR (state = 1 AND done_ns >= ?))",
                        (*chunk, since_ns),
                    )
                )
            return found

        return await self._require_reader().run(read)

    async def forwarded_since(
        self, since_ns: int, lower: tuple[int, str] | None, upper: tuple[int, str]
    ) -> bool:
        """Whether an event keyed in ``(lower, upper]`` was forwarded at or after ``since_ns``."""
        low = lower if lower is not None else (-1, "")

        def read(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT 1 FROM outbox WHERE state = 1 AND done_ns >= ?"
                " AND (time_ns, event_id) > (?, ?) AND (time_ns, event_id) <= (?, ?) LIMIT 1",
                (since_ns, low[0], low[1], upper[0], upper[1]),
            ).fetchone()
            return row is not None

        return await self._require_reader().run(read)

    async def counts(self) -> OutboxCounts:
        """Pending events and bytes, oldest pending, dead letters, recent forwards, last error."""
        now = self._clock_ns()
        return await self._require_reader().run(lambda conn: read_counts(conn, now))

    async def deadletters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters."""
        return await self._require_reader().run(read_deadletters(limit))

    async def replay(self, event_ids: Sequence[str] | None = None) -> int:
        """Make dead letters pending again (all when ``event_ids`` is None); how many."""
        return await self._require_writer().submit(replay_unit(event_ids))

    async def status(self, *, backend: str = "", backend_ok: bool | None = None) -> OutboxStatus:
        """:class:`OutboxStatus` from the file (and the caller's live backend knowledge)."""
        counts = await self.counts()
        return self._status(counts, backend, backend_ok)

    def status_sync(self, *, backend: str = "", backend_ok: bool | None = None) -> OutboxStatus:
        """:meth:`status`, blocking, without an event loop (by default the backend
        state comes from the file)."""
        return self._status(self.counts_sync(), backend, backend_ok)

    # -- synchronous variants -------------------------------------------------

    def counts_sync(self) -> OutboxCounts:
        """:meth:`counts`, blocking, without an event loop."""
        now = self._clock_ns()
        return self._require_reader().run_sync(lambda conn: read_counts(conn, now))

    def repair_counts_sync(self) -> None:
        """Recompute the counters from the rows (run at start; cheap when little is pending)."""
        self._require_writer().submit_sync(recount, timeout_seconds=60.0)

    def __enter__(self) -> Outbox:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _status(self, counts: OutboxCounts, backend: str, backend_ok: bool | None) -> OutboxStatus:
        return OutboxStatus.from_counts(
            counts,
            now_ns=self._clock_ns(),
            writable=self.writable,
            max_pending_events=self._max_events,
            max_pending_bytes=self._max_bytes,
            backend=backend,
            backend_ok=backend_ok,
        )

    def _require_writer(self) -> SQLiteWriter:
        if self._writer is None:
            raise ServiceUnavailable("the outbox is not open")
        return self._writer

    def _require_reader(self) -> SQLiteReader:
        if self._reader is None:
            raise ServiceUnavailable("the outbox is not open")
        return self._reader
