"""The embedded event store: events in one SQLite file, written with group commit.

Each event is one row: the indexed columns ``event_id`` (unique),
``measurement``, ``time_ns`` and ``event`` (the ``event`` tag), the column
``uid`` (the ``uid`` field when it is a string; filtered while scanning a
window, like a field in InfluxDB, not indexed), plus the tags and fields as one
orjson blob, which keeps ``True``, ``1`` and ``1.0`` apart. Writes go through an
:class:`~stats_service.sqlite.writer.SQLiteWriter` (one fsync per group of
concurrent writes); reads use an :class:`~stats_service.sqlite.reader.SQLiteReader`.
Every value reaches SQL as a bound parameter.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stats_service.errors import ServiceUnavailable
from stats_service.events.model import Event
from stats_service.sqlite import Migration, SQLiteReader, SQLiteWriter, insert_rows
from stats_service.sqlite.rows import EVENT_COLUMNS, decode_event, encode_body, indexed_uid
from stats_service.sqlite.window import read_window, window_sql
from stats_service.storage.base import EventPage, EventQuery, StoreHealth
from stats_service.storage.log import LogEntry

__all__ = ["EmbeddedStore"]

_log = logging.getLogger(__name__)

_MIGRATIONS: tuple[Migration, ...] = (
    """
    CREATE TABLE events (
        seq         INTEGER PRIMARY KEY,
        event_id    TEXT    NOT NULL UNIQUE,
        measurement TEXT    NOT NULL,
        time_ns     INTEGER NOT NULL,
        event       TEXT,
        uid         TEXT,
        body        BLOB    NOT NULL
    );
    CREATE INDEX events_by_time ON events (time_ns, event_id);
    CREATE INDEX events_by_measurement ON events (measurement, time_ns, event_id);
    CREATE INDEX events_by_event ON events (event, time_ns, event_id)
        WHERE event IS NOT NULL;
    CREATE INDEX events_by_uid ON events (uid, time_ns, event_id)
        WHERE uid IS NOT NULL;
    """,
    # uid values are many and arrive in no order: each insert landed on its
    # own page of this index, and rewriting those pages cost about three
    # quarters of every commit. A uid filter now scans the time window, as
    # InfluxDB does for a field.
    "DROP INDEX events_by_uid;",
)
"""The schema of the events file; ``PRAGMA user_version`` counts the applied steps."""

_INSERT = "INSERT INTO events (event_id, measurement, time_ns, event, uid, body) VALUES"
_ON_CONFLICT = "ON CONFLICT (event_id) DO NOTHING"
_TABLE = "events"
_SELECT_ONE = f"SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ?"  # noqa: S608 -- constant text

_SELECT_AFTER = f"SELECT seq, {EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?"  # noqa: S608 -- constant text

_InsertRow = tuple[str, str, int, str | None, str | None, bytes]


def _size(rows: list[_InsertRow]) -> int:
    return sum(len(row[5]) for row in rows)


def _error_of(outcome: asyncio.Future[Any]) -> BaseException | None:
    if outcome.cancelled():
        return asyncio.CancelledError()
    return outcome.exception()


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    """Resolve a caller's future unless the caller stopped waiting."""
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


def _insert_rows(conn: sqlite3.Connection, rows: list[_InsertRow]) -> None:
    insert_rows(conn, _INSERT, rows, suffix=_ON_CONFLICT)


def _insert_each(
    batches: list[list[_InsertRow]],
) -> Callable[[sqlite3.Connection], list[Exception | None]]:
    """One unit for several writes, each atomic and failing alone.

    All rows go in together (:func:`~stats_service.sqlite.inserts.insert_rows`).
    If that fails, it is undone and each write is inserted on its own, inside
    its own savepoint, so a bad write fails only itself; the unit returns each
    write's error (or None).
    """

    def unit(conn: sqlite3.Connection) -> list[Exception | None]:
        conn.execute("SAVEPOINT together")
        try:
            _insert_rows(conn, [row for rows in batches for row in rows])
        except Exception:
            if not conn.in_transaction:  # SQLite gave up the transaction: all fail
                raise
            conn.execute("ROLLBACK TO together")
        else:
            conn.execute("RELEASE together")
            return [None] * len(batches)
        conn.execute("RELEASE together")
        errors: list[Exception | None] = []
        for rows in batches:
            conn.execute("SAVEPOINT alone")
            try:
                _insert_rows(conn, rows)
            except Exception as exc:
                if not conn.in_transaction:
                    raise
                conn.execute("ROLLBACK TO alone")
                errors.append(exc)
            else:
                errors.append(None)
            conn.execute("RELEASE alone")
        return errors

    return unit


def _insert(rows: list[_InsertRow]) -> Callable[[sqlite3.Connection], None]:
    def unit(conn: sqlite3.Connection) -> None:
        _insert_rows(conn, rows)

    return unit


def _window_sql(query: EventQuery) -> tuple[str, list[object]]:
    """The SELECT for one page of ``query`` (see :mod:`stats_service.sqlite.window`)."""
    return window_sql(_TABLE, query)


class EmbeddedStore:
    """An :class:`~stats_service.storage.base.EventStore` in one SQLite file.

    ``path`` is the database file (its directory is created on ``open``).
    ``open`` after ``close`` reopens the same file.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_batch_units: int = 1000,
        read_connections: int = 4,
        busy_timeout_seconds: float = 5.0,
        close_timeout_seconds: float = 10.0,
    ) -> None:
        self._path = path
        self._max_batch_units = max_batch_units
        self._read_connections = read_connections
        self._busy_timeout = busy_timeout_seconds
        self._close_timeout = close_timeout_seconds
        self._writer: SQLiteWriter | None = None
        self._reader: SQLiteReader | None = None
        self._lifecycle = asyncio.Lock()  # open and close never interleave
        # Writes waiting for the next group: made in this event-loop turn, or
        # while the previous group commits. _flush submits them together.
        self._pending: list[tuple[list[_InsertRow], asyncio.Future[None]]] = []
        self._in_flight: asyncio.Future[Any] | None = None

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path

    @property
    def writable(self) -> bool:
        """Whether the store is open and its writer runs (read at scrape time)."""
        writer = self._writer
        return writer is not None and writer.running

    @property
    def writer(self) -> SQLiteWriter:
        """The group-commit writer (for metrics: ``commits``, ``pending``)."""
        if self._writer is None:
            raise ServiceUnavailable("the embedded store is not open")
        return self._writer

    async def open(self) -> None:
        """Create the directory and schema if missing; start the writer."""
        async with self._lifecycle:
            if self._writer is not None:
                return
            writer = SQLiteWriter(
                self._path,
                migrations=_MIGRATIONS,
                thread_name=f"stats-events-writer[{self._path.name}]",
                max_batch_units=self._max_batch_units,
                busy_timeout_seconds=self._busy_timeout,
            )

            def start() -> None:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                writer.open()

            await asyncio.to_thread(start)
            self._reader = SQLiteReader(
                self._path,
                max_connections=self._read_connections,
                busy_timeout_seconds=self._busy_timeout,
                thread_name_prefix=f"stats-events-reader[{self._path.name}]",
            )
            self._writer = writer

    async def close(self) -> None:
        """Commit every write already submitted, then release the file."""
        async with self._lifecycle:
            if self._writer is not None:
                # Writes already made are queued (and committed) before the writer stops.
                self._flush(now=True)
            writer, reader = self._writer, self._reader
            self._writer = self._reader = None
            if writer is not None:
                drained = await asyncio.to_thread(writer.close, self._close_timeout)
                if not drained:
                    _log.warning(
                        "the writer of %s did not finish within %s s; "
                        "it finishes in the background",
                        self._path,
                        self._close_timeout,
                    )
            if reader is not None:
                await asyncio.to_thread(reader.close)

    async def write(self, events: Sequence[Event]) -> None:
        """Store ``events`` in one transaction; returns once it is committed.

        Ids already stored (or repeated within ``events``) are skipped: the
        first version wins. If any event cannot be stored, none of them is; a
        NaN or infinite field raises ``InvalidEvent`` (JSON cannot keep it).
        """
        if self._writer is None:
            raise ServiceUnavailable("the embedded store is not open")
        if not events:
            return
        rows = [
            (
                e.event_id,
                e.measurement,
                e.time_ns,
                e.tags.get("event"),
                indexed_uid(e.fields),
                encode_body(e),
            )
            for e in events
        ]
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if not self._pending and self._in_flight is None:
            loop.call_soon(self._flush)
        self._pending.append((rows, done))
        await done

    def _flush(self, *, now: bool = False) -> None:
        """Submit the waiting writes as one unit, unless a group is committing (or ``now``).

        One group commits at a time. The writes of one event-loop turn, and
        all those made while the previous group commits, become one unit that
        inserts all their rows at once, rather than one unit (a savepoint, an
        insert, a release) each: the writer thread then needs the GIL a few
        times per group instead of several times per write, and busier
        moments make bigger groups. When a group is done, the writes that waited for it are
        submitted at once. Each caller still gets its own outcome (see
        :func:`_insert_each`).
        """
        if self._in_flight is not None and not now:
            return  # the group in flight submits these when it is done
        pending, self._pending = self._pending, []
        if not pending:
            return
        batches = [rows for rows, _ in pending]
        size = sum(_size(rows) for rows in batches)
        try:
            if len(pending) == 1:
                in_flight: asyncio.Future[Any] = self.writer.submit(
                    _insert(batches[0]), size_bytes=size
                )
            else:
                in_flight = self.writer.submit(_insert_each(batches), size_bytes=size)
        except Exception as exc:  # noqa: BLE001 -- handed to every caller
            for _, done in pending:
                _settle(done, exc)
            return
        self._in_flight = in_flight

        def settled(outcome: asyncio.Future[Any]) -> None:
            if self._in_flight is in_flight:
                self._in_flight = None
            error = _error_of(outcome)
            if error is not None:
                errors: list[BaseException | None] = [error] * len(pending)
            elif len(pending) == 1:
                errors = [None]
            else:
                errors = list(outcome.result())
            for (_, done), own_error in zip(pending, errors, strict=True):
                _settle(done, own_error)
            self._flush()  # the writes that waited for this group

        in_flight.add_done_callback(settled)

    async def get(self, event_id: str) -> Event | None:
        """The stored event with this id, or None."""

        def read(conn: sqlite3.Connection) -> Event | None:
            row = conn.execute(_SELECT_ONE, (event_id,)).fetchone()
            return None if row is None else decode_event(*row)

        return await self._require_reader().run(read)

    async def query(self, query: EventQuery) -> EventPage:
        """Events in ``[since_ns, until_ns)`` matching the filters, by ``(time_ns, event_id)``."""
        if query.limit < 1:
            raise ValueError("query limit must be at least 1")
        reader = self._require_reader()
        if query.since_ns >= query.until_ns:
            return EventPage(events=[], next_after=None)
        events = await reader.run(read_window(_TABLE, query))
        return EventPage.of_candidates(events, query.limit)

    async def read_after(self, seq: int, limit: int) -> list[LogEntry]:
        """Up to ``limit`` events committed after position ``seq`` (the rowid), in order."""

        def read(conn: sqlite3.Connection) -> list[LogEntry]:
            rows = conn.execute(_SELECT_AFTER, (seq, limit)).fetchall()
            return [LogEntry(row[0], row[1], decode_event(*row[1:])) for row in rows]

        return await self._require_reader().run(read)

    async def position_of(self, event_id: str) -> int | None:
        """The position (rowid) of the event with this id, or None."""

        def read(conn: sqlite3.Connection) -> int | None:
            row = conn.execute("SELECT seq FROM events WHERE event_id = ?", (event_id,)).fetchone()
            return None if row is None else int(row[0])

        return await self._require_reader().run(read)

    async def head(self) -> int:
        """The position of the newest committed event (0 when empty)."""

        def read(conn: sqlite3.Connection) -> int:
            (value,) = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
            return int(value)

        return await self._require_reader().run(read)

    async def health(self) -> StoreHealth:
        """Whether the writer runs and the file answers a read."""
        writer, reader = self._writer, self._reader
        if writer is None or reader is None or not writer.running:
            return StoreHealth(backend="embedded", ok=False, detail="not open")
        try:
            await reader.run(lambda conn: conn.execute("SELECT 1 FROM events LIMIT 1").fetchall())
        except (sqlite3.Error, ServiceUnavailable) as exc:
            return StoreHealth(backend="embedded", ok=False, detail=f"read failed: {exc}")
        return StoreHealth(
            backend="embedded", ok=True, detail=f"sqlite WAL, {writer.pending} writes queued"
        )

    def _require_reader(self) -> SQLiteReader:
        if self._reader is None:
            raise ServiceUnavailable("the embedded store is not open")
        return self._reader
