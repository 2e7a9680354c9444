"""The durable outbox: every accepted event is committed here before it is acknowledged.

One SQLite file (WAL, ``synchronous=FULL``) written through a
:class:`~stats_service.sqlite.writer.SQLiteWriter`, so concurrent requests
share one fsync. The forwarder drains it towards the storage backend.

Rows and their states
---------------------
Each accepted event is one row of ``outbox``, numbered by ``seq`` in
acceptance order, in one of three states:

* **pending** (0): committed, not yet known to be in the backend. The row
  holds the whole event (tags and fields as one orjson blob).
* **forwarded** (1): the backend stored it. The blob is dropped; the row keeps
  only what idempotency and timestamp uniqueness need (``event_id``, series
  hash, ``time_ns``, acceptance time) until it is older than the *dedupe
  window* (default 24 h), then :meth:`Outbox.prune` deletes it.
* **dead-lettered** (2): the backend refused it for good; the row keeps the
  event, the backend's reason and status, and is never pruned. Replaying it
  makes it pending again.

Idempotency
-----------
``event_id`` is unique over all three states: an id that is pending,
dead-lettered, or was forwarded within the dedupe window is skipped (the
first version wins). Retries older than the window are accepted again; they
carry the same series, time and fields, so InfluxDB overwrites the point with
itself and it is still stored once.

Unique timestamps per series
----------------------------
InfluxDB keeps one point per series (measurement plus non-empty tags) and
timestamp: a second distinct event would overwrite the first. So ``(series
hash, time_ns)`` is unique as well: an event whose slot is taken by another
event accepted within the dedupe window is stored (and forwarded, and
returned) with its time moved forward by the fewest nanoseconds that make it
unique. Stored times therefore may differ from the sent ones by a few
nanoseconds, only for events that would otherwise have been lost. A hash
collision between two series only moves a time needlessly, never loses an
event. Not covered: points written to the same series by other writers, or
accepted more than the dedupe window ago.

Bounds and counters
-------------------
``outbox_meta`` holds the pending count and bytes and the dead-letter count,
updated in the same transaction as the rows, so they stay exact across
crashes and across processes (the CLI may replay dead letters while the
service runs). An append that would take the pending events or bytes over
their bounds fails as a whole with :class:`OutboxFull` (a
``ServiceUnavailable``: 503 with ``Retry-After``); nothing is accepted that
could not be made durable. ``forwarded_per_second`` keeps a two-minute
history of forwarded counts, so the forward rate and the last delivery error
are visible to ``stats-service outbox status`` too.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from stats_service.errors import InvalidEvent, ServiceUnavailable
from stats_service.events.model import Event
from stats_service.sqlite import Migration, SQLiteReader, SQLiteWriter, insert_rows
from stats_service.sqlite.rows import EVENT_COLUMNS, decode_event, encode_body, indexed_uid
from stats_service.sqlite.window import read_window
from stats_service.storage.base import EventPage, EventQuery
from stats_service.storage.influx.series import series_hash

__all__ = [
    "Appended",
    "DeadLetter",
    "Outbox",
    "OutboxCounts",
    "OutboxEntry",
    "OutboxFull",
    "OutboxStatus",
    "Rejection",
]

T = TypeVar("T")

PENDING = 0
FORWARDED = 1
DEAD = 2

_NS_PER_SECOND = 1_000_000_000
_MAX_TIME_NS = 2**63 - 2  # the largest time InfluxDB stores
_RATE_WINDOW_SECONDS = 60
_RATE_HISTORY_SECONDS = 120
_PRUNE_CHUNK_ROWS = 20_000
_MAX_ERROR_CHARS = 1000

_MIGRATIONS: tuple[Migration, ...] = (
    """
    CREATE TABLE outbox (
        seq           INTEGER PRIMARY KEY,
        event_id      TEXT    NOT NULL UNIQUE,
        series        INTEGER NOT NULL,
        time_ns       INTEGER NOT NULL,
        measurement   TEXT,
        event         TEXT,
        uid           TEXT,
        body          BLOB,
        size          INTEGER NOT NULL,
        accepted_ns   INTEGER NOT NULL,
        state         INTEGER NOT NULL DEFAULT 0,
        done_ns       INTEGER,
        reason        TEXT,
        influx_status INTEGER
    );
    CREATE UNIQUE INDEX outbox_by_series_time ON outbox (series, time_ns);
    CREATE INDEX outbox_pending ON outbox (seq) WHERE state = 0;
    CREATE INDEX outbox_pending_by_time ON outbox (time_ns, event_id) WHERE state = 0;
    CREATE INDEX outbox_dead ON outbox (seq) WHERE state = 2;
    CREATE TABLE outbox_meta (
        id               INTEGER PRIMARY KEY CHECK (id = 0),
        pending_events   INTEGER NOT NULL,
        pending_bytes    INTEGER NOT NULL,
        dead_letters     INTEGER NOT NULL,
        last_accepted_ns INTEGER NOT NULL,
        last_forward_ns  INTEGER,
        last_error       TEXT,
        last_error_ns    INTEGER
    );
    INSERT INTO outbox_meta VALUES (0, 0, 0, 0, 0, NULL, NULL, NULL);
    CREATE TABLE forwarded_per_second (
        second INTEGER PRIMARY KEY,
        events INTEGER NOT NULL
    );
    """,
)
"""The outbox schema; ``PRAGMA user_version`` counts the applied steps."""

_INSERT = (
    "INSERT INTO outbox (event_id, series, time_ns, measurement, event, uid, body, size,"
    " accepted_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_OR_IGNORE_ROWS = (
    "INSERT OR IGNORE INTO outbox (event_id, series, time_ns, measurement, event, uid, body,"
    " size, accepted_ns) VALUES"
)
_META = "SELECT pending_events, pending_bytes, last_accepted_ns FROM outbox_meta WHERE id = 0"
_MARK_FORWARDED = (
    "UPDATE outbox SET state = 1, done_ns = ?, body = NULL, measurement = NULL,"
    " event = NULL, uid = NULL WHERE seq = ? AND state = 0"
)
_MARK_FORWARDED_RANGE = (
    "UPDATE outbox SET state = 1, done_ns = ?, body = NULL, measurement = NULL,"
    " event = NULL, uid = NULL WHERE seq BETWEEN ? AND ? AND state = 0 RETURNING seq"
)
_MARK_DEAD = (
    "UPDATE outbox SET state = 2, done_ns = ?, reason = ?, influx_status = ?"
    " WHERE seq = ? AND state = 0"
)

_Row = tuple[str, int, int, str, str | None, str | None, bytes, int, int]


class OutboxFull(ServiceUnavailable):
    """Accepting these events would take the outbox over its bound of events or bytes."""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One pending event as the forwarder reads it: its row number, the event, its size."""

    seq: int
    event: Event
    size: int


@dataclass(frozen=True, slots=True)
class Rejection:
    """A pending entry the backend refused for good, with the backend's reason."""

    entry: OutboxEntry
    reason: str
    status: int | None = None
    """The backend's HTTP status, None when the event never reached it."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead-lettered event, why the backend refused it, and when."""

    event: Event
    reason: str
    status: int | None
    """The backend's HTTP status, None when the event never reached it."""
    accepted_ns: int
    """When the outbox accepted it (ns since the epoch)."""
    dead_lettered_ns: int
    """When it was dead-lettered (ns since the epoch)."""


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    """What the outbox file says about delivery, readable from any process."""

    pending_events: int
    pending_bytes: int
    oldest_pending_accepted_ns: int | None
    """Acceptance time of the oldest pending event; None when nothing is pending."""
    dead_letters: int
    forwarded_last_minute: int
    """Events forwarded in the last 60 seconds (by the clock of the outbox)."""
    last_forward_ns: int | None
    last_error: str | None
    """The last delivery error; None once a later delivery succeeded."""
    last_error_ns: int | None


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """Delivery at a glance, for ``/ping``, metrics and ``stats-service outbox status``.

    ``state`` is ``ok`` (delivering, or nothing to deliver), ``retrying`` (the
    last delivery attempt failed; backing off), ``full`` (at a bound: writes
    are refused with 503) or ``closed``. ``ready`` says whether the service
    should take traffic: the outbox is writable, and the backend is reachable
    or the backlog is under its bounds.
    """

    state: str
    ready: bool
    pending_events: int
    pending_bytes: int
    max_pending_events: int
    max_pending_bytes: int
    oldest_pending_age_seconds: float | None
    """Age of the oldest pending event; None when nothing is pending."""
    forward_rate_events_per_second: float
    """Events forwarded per second, averaged over the last minute."""
    dead_letters: int
    last_error: str | None
    """The last delivery error, cleared by the next successful delivery."""
    last_error_age_seconds: float | None
    backend: str
    backend_ok: bool | None
    """Whether the last contact with the backend succeeded; None before any."""

    @classmethod
    def from_counts(
        cls,
        counts: OutboxCounts,
        *,
        now_ns: int,
        writable: bool,
        max_pending_events: int,
        max_pending_bytes: int,
        backend: str = "",
        backend_ok: bool | None = None,
    ) -> OutboxStatus:
        """The status these counts imply; ``backend_ok`` None derives it from the last error."""
        if backend_ok is None and (counts.last_error is not None or counts.last_forward_ns):
            backend_ok = counts.last_error is None
        full = (
            counts.pending_events >= max_pending_events or counts.pending_bytes >= max_pending_bytes
        )
        if not writable:
            state = "closed"
        elif full:
            state = "full"
        elif backend_ok is False:
            state = "retrying"
        else:
            state = "ok"
        oldest = counts.oldest_pending_accepted_ns
        error_ns = counts.last_error_ns
        return cls(
            state=state,
            ready=writable and (backend_ok is not False or not full),
            pending_events=counts.pending_events,
            pending_bytes=counts.pending_bytes,
            max_pending_events=max_pending_events,
            max_pending_bytes=max_pending_bytes,
            oldest_pending_age_seconds=(
                None if oldest is None else max(0.0, (now_ns - oldest) / _NS_PER_SECOND)
            ),
            forward_rate_events_per_second=counts.forwarded_last_minute / _RATE_WINDOW_SECONDS,
            dead_letters=counts.dead_letters,
            last_error=counts.last_error,
            last_error_age_seconds=(
                None if error_ns is None else max(0.0, (now_ns - error_ns) / _NS_PER_SECOND)
            ),
            backend=backend,
            backend_ok=backend_ok,
        )

    def as_dict(self) -> dict[str, Any]:
        """The status as JSON-ready values."""
        return dataclasses.asdict(self)


def _rows(events: Sequence[Event]) -> list[_Row]:
    """One insert row per event (``accepted_ns`` is filled in by the writer)."""
    rows: list[_Row] = []
    for event in events:
        body = encode_body(event)
        rows.append(
            (
                event.event_id,
                series_hash(event.measurement, event.tags),
                event.time_ns,
                event.measurement,
                event.tags.get("event"),
                indexed_uid(event.fields),
                body,
                len(body) + len(event.event_id) + len(event.measurement),
                0,
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class Appended:
    """What one append did: how many events were new, and the pending totals after it."""

    inserted: int
    """Events committed by this append (known ids are skipped)."""
    pending_events: int
    pending_bytes: int


class _Full(Exception):
    """Raised inside the append unit; turned into :class:`OutboxFull` by the caller."""

    def __init__(self, pending_events: int, pending_bytes: int, events: int, size: int) -> None:
        super().__init__("outbox full")
        self.pending_events = pending_events
        self.pending_bytes = pending_bytes
        self.events = events
        self.size = size


def _free_time(conn: sqlite3.Connection, series: int, time_ns: int) -> int:
    """The first time at or after ``time_ns`` that no row of ``series`` holds."""
    cursor = conn.execute(
        "SELECT time_ns FROM outbox WHERE series = ? AND time_ns >= ? ORDER BY time_ns",
        (series, time_ns),
    )
    for (taken,) in cursor:
        if taken != time_ns:
            break
        time_ns += 1
    cursor.close()
    return time_ns


def _insert_one_by_one(conn: sqlite3.Connection, rows: list[_Row]) -> tuple[int, int]:
    """Insert rows skipping known ids and moving taken times; (count, bytes) inserted."""
    inserted = size = 0
    next_free: dict[tuple[int, int], int] = {}  # (series, sent time) -> first time to try
    for row in rows:
        event_id, series, time_ns = row[0], row[1], row[2]
        if conn.execute("SELECT 1 FROM outbox WHERE event_id = ?", (event_id,)).fetchone():
            continue
        start = next_free.get((series, time_ns), time_ns)
        free = _free_time(conn, series, start)
        if free > _MAX_TIME_NS:
            raise InvalidEvent(
                f"event {event_id!r}: no free timestamp left in its series", key="time"
            )
        next_free[(series, time_ns)] = free + 1
        conn.execute(_INSERT, (*row[:2], free, *row[3:]))
        inserted += 1
        size += row[7]
    return inserted, size


def _append_unit(
    rows: list[_Row], accepted_ns: int, max_events: int, max_bytes: int
) -> Callable[[sqlite3.Connection], Appended]:
    def unit(conn: sqlite3.Connection) -> Appended:
        pending, pending_bytes, last_accepted = conn.execute(_META).fetchone()
        stamp = max(accepted_ns, last_accepted)  # keeps acceptance times monotonic in seq
        stamped = [(*row[:8], stamp) for row in rows]
        # Fast path: every row is new and every slot free (one multi-row insert).
        conn.execute("SAVEPOINT fast")
        before = conn.total_changes
        insert_rows(conn, _INSERT_OR_IGNORE_ROWS, stamped)
        if conn.total_changes - before == len(stamped):
            conn.execute("RELEASE fast")
            inserted, size = len(stamped), sum(row[7] for row in stamped)
        else:
            conn.execute("ROLLBACK TO fast")
            conn.execute("RELEASE fast")
            inserted, size = _insert_one_by_one(conn, stamped)
        if not inserted:
            return Appended(0, pending, pending_bytes)
        if pending + inserted > max_events or pending_bytes + size > max_bytes:
            raise _Full(pending, pending_bytes, inserted, size)
        conn.execute(
            "UPDATE outbox_meta SET pending_events = pending_events + ?,"
            " pending_bytes = pending_bytes + ?, last_accepted_ns = ? WHERE id = 0",
            (inserted, size, stamp),
        )
        return Appended(inserted, pending + inserted, pending_bytes + size)

    return unit


def _recount(conn: sqlite3.Connection) -> None:
    """Set the counters from the rows themselves (after an unexpected mismatch)."""
    pending, size = conn.execute(
        "SELECT count(*), coalesce(sum(size), 0) FROM outbox WHERE state = 0"
    ).fetchone()
    (dead,) = conn.execute("SELECT count(*) FROM outbox WHERE state = 2").fetchone()
    conn.execute(
        "UPDATE outbox_meta SET pending_events = ?, pending_bytes = ?, dead_letters = ?"
        " WHERE id = 0",
        (pending, size, dead),
    )


def _mark_forwarded(conn: sqlite3.Connection, entries: Sequence[OutboxEntry], now_ns: int) -> int:
    """Mark ``entries`` forwarded: in one statement over their ``seq`` range when the
    pending rows of that range are exactly these (the usual whole batch), else row by row."""
    if not entries:
        return 0
    seqs = {entry.seq for entry in entries}
    if len(seqs) > 1:
        conn.execute("SAVEPOINT range")
        marked = {
            seq for (seq,) in conn.execute(_MARK_FORWARDED_RANGE, (now_ns, min(seqs), max(seqs)))
        }
        if marked == seqs:
            conn.execute("RELEASE range")
            return len(marked)
        # Other pending rows lie in the range (a partial batch, a replay): undo.
        conn.execute("ROLLBACK TO range")
        conn.execute("RELEASE range")
    return conn.executemany(_MARK_FORWARDED, [(now_ns, seq) for seq in sorted(seqs)]).rowcount


def _settle_unit(
    forwarded: Sequence[OutboxEntry], rejected: Sequence[Rejection], now_ns: int
) -> Callable[[sqlite3.Connection], int]:
    def unit(conn: sqlite3.Connection) -> int:
        dead = conn.executemany(
            _MARK_DEAD,
            [(now_ns, r.reason, r.status, r.entry.seq) for r in rejected],
        ).rowcount
        changed = max(0, dead) + _mark_forwarded(conn, forwarded, now_ns)
        if changed == len(forwarded) + len(rejected):
            size = sum(e.size for e in forwarded) + sum(r.entry.size for r in rejected)
            conn.execute(
                "UPDATE outbox_meta SET pending_events = pending_events - ?,"
                " pending_bytes = pending_bytes - ?, dead_letters = dead_letters + ?"
                " WHERE id = 0",
                (changed, size, len(rejected)),
            )
        else:  # some rows were not pending any more (another process settled them)
            _recount(conn)
        if forwarded:
            second = now_ns // _NS_PER_SECOND
            conn.execute(
                "INSERT INTO forwarded_per_second (second, events) VALUES (?, ?)"
                " ON CONFLICT (second) DO UPDATE SET events = events + excluded.events",
                (second, len(forwarded)),
            )
            conn.execute(
                "DELETE FROM forwarded_per_second WHERE second < ?",
                (second - _RATE_HISTORY_SECONDS,),
            )
            conn.execute(
                "UPDATE outbox_meta SET last_forward_ns = ?, last_error = NULL,"
                " last_error_ns = NULL WHERE id = 0",
                (now_ns,),
            )
        (pending,) = conn.execute("SELECT pending_events FROM outbox_meta WHERE id = 0").fetchone()
        return int(pending)

    return unit


def _replay_unit(
    event_ids: Sequence[str] | None,
) -> Callable[[sqlite3.Connection], int]:
    reset = "UPDATE outbox SET state = 0, done_ns = NULL, reason = NULL, influx_status = NULL"

    def unit(conn: sqlite3.Connection) -> int:
        sizes: list[int] = []
        if event_ids is None:
            sizes = [size for (size,) in conn.execute(f"{reset} WHERE state = 2 RETURNING size")]
        else:
            for event_id in dict.fromkeys(event_ids):
                sizes.extend(
                    size
                    for (size,) in conn.execute(
                        f"{reset} WHERE event_id = ? AND state = 2 RETURNING size", (event_id,)
                    )
                )
        if sizes:
            conn.execute(
                "UPDATE outbox_meta SET pending_events = pending_events + ?,"
                " pending_bytes = pending_bytes + ?, dead_letters = dead_letters - ?"
                " WHERE id = 0",
                (len(sizes), sum(sizes), len(sizes)),
            )
        return len(sizes)

    return unit


def _prune_unit(cutoff_ns: int) -> Callable[[sqlite3.Connection], int]:
    """Delete up to one chunk of forwarded rows accepted before ``cutoff_ns``.

    Acceptance times never decrease along ``seq``, so the rows to prune are a
    prefix of the table: a binary search over ``seq`` finds its end.
    """

    def unit(conn: sqlite3.Connection) -> int:
        low, high = conn.execute("SELECT min(seq), max(seq) FROM outbox").fetchone()
        if low is None:
            return 0
        first = conn.execute(
            "SELECT accepted_ns FROM outbox WHERE seq >= ? ORDER BY seq LIMIT 1", (low,)
        ).fetchone()
        if first is None or first[0] >= cutoff_ns:
            return 0
        # Invariant: the row at or after ``low`` is older than the cutoff; find the last such.
        while low < high:
            middle = (low + high + 1) // 2
            row = conn.execute(
                "SELECT seq, accepted_ns FROM outbox WHERE seq >= ? ORDER BY seq LIMIT 1",
                (middle,),
            ).fetchone()
            if row is not None and row[1] < cutoff_ns:
                low = row[0]
            else:
                high = middle - 1
        cursor = conn.execute(
            "DELETE FROM outbox WHERE seq IN"
            " (SELECT seq FROM outbox WHERE seq <= ? AND state = 1 ORDER BY seq LIMIT ?)",
            (low, _PRUNE_CHUNK_ROWS),
        )
        return cursor.rowcount

    return unit


def _record_error_unit(text: str, now_ns: int) -> Callable[[sqlite3.Connection], None]:
    def unit(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE outbox_meta SET last_error = ?, last_error_ns = ? WHERE id = 0",
            (text[:_MAX_ERROR_CHARS], now_ns),
        )

    return unit


def _read_counts(conn: sqlite3.Connection, now_ns: int) -> OutboxCounts:
    pending, size, dead, last_forward, last_error, last_error_ns = conn.execute(
        "SELECT pending_events, pending_bytes, dead_letters, last_forward_ns, last_error,"
        " last_error_ns FROM outbox_meta WHERE id = 0"
    ).fetchone()
    oldest = conn.execute(
        "SELECT accepted_ns FROM outbox WHERE state = 0 ORDER BY seq LIMIT 1"
    ).fetchone()
    second = now_ns // _NS_PER_SECOND
    (recent,) = conn.execute(
        "SELECT coalesce(sum(events), 0) FROM forwarded_per_second WHERE second > ?",
        (second - _RATE_WINDOW_SECONDS,),
    ).fetchone()
    return OutboxCounts(
        pending_events=pending,
        pending_bytes=size,
        oldest_pending_accepted_ns=None if oldest is None else oldest[0],
        dead_letters=dead,
        forwarded_last_minute=recent,
        last_forward_ns=last_forward,
        last_error=last_error,
        last_error_ns=last_error_ns,
    )


def _read_batch(
    max_events: int, max_bytes: int, after_seq: int
) -> Callable[[sqlite3.Connection], list[OutboxEntry]]:
    def read(conn: sqlite3.Connection) -> list[OutboxEntry]:
        entries: list[OutboxEntry] = []
        total = 0
        cursor = conn.execute(
            f"SELECT seq, size, {EVENT_COLUMNS} FROM outbox"  # noqa: S608 -- constant text
            " WHERE state = 0 AND seq > ? ORDER BY seq LIMIT ?",
            (after_seq, max_events),
        )
        for seq, size, event_id, measurement, time_ns, body in cursor:
            if entries and total + size > max_bytes:
                break
            total += size
            entries.append(
                OutboxEntry(seq, decode_event(event_id, measurement, time_ns, body), size)
            )
        cursor.close()
        return entries

    return read


def _read_deadletters(limit: int) -> Callable[[sqlite3.Connection], list[DeadLetter]]:
    def read(conn: sqlite3.Connection) -> list[DeadLetter]:
        cursor = conn.execute(
            f"SELECT {EVENT_COLUMNS}, reason, influx_status, accepted_ns, done_ns"  # noqa: S608 -- constant text
            " FROM outbox WHERE state = 2 ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [
            DeadLetter(
                event=decode_event(event_id, measurement, time_ns, body),
                reason=reason or "",
                status=status,
                accepted_ns=accepted_ns,
                dead_lettered_ns=done_ns,
            )
            for event_id, measurement, time_ns, body, reason, status, accepted_ns, done_ns in cursor
        ]

    return read


class Outbox:
    """The outbox file: append, read pending batches, settle them, dead letters, status.

    ``open``/``close`` block (call them through ``asyncio.to_thread`` from
    async code). The async methods need a running loop; the ``*_sync``
    variants serve the command line, with or without the service running
    on the same file (SQLite serialises the writers of both processes).
    One process forwards an outbox at a time (see :mod:`.lease`).
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
    ) -> None:
        if max_pending_events < 1 or max_pending_bytes < 1:
            raise ValueError("the outbox bounds must be positive")
        self._path = path
        self._max_events = max_pending_events
        self._max_bytes = max_pending_bytes
        self._window_ns = int(dedupe_window_seconds * _NS_PER_SECOND)
        self._clock_ns = clock_ns
        self._max_group_units = max_group_units
        self._read_connections = read_connections
        self._busy_timeout = busy_timeout_seconds
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
        """The bound on pending bytes (stored JSON body, id and measurement of each event)."""
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

    def open(self, *, create: bool = True) -> None:
        """Start the writer (creating the directory and schema if missing); blocks.

        ``create=False`` (the command line) raises ``FileNotFoundError`` instead
        of creating an outbox where none exists.
        """
        if self._writer is not None:
            return
        if not create and not self._path.exists():
            raise FileNotFoundError(f"no outbox at {self._path}")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        writer = SQLiteWriter(
            self._path,
            migrations=_MIGRATIONS,
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
        writer = self._require_writer()
        rows = _rows(events)
        unit = _append_unit(rows, self._clock_ns(), self._max_events, self._max_bytes)
        try:
            appended = await writer.submit(unit, size_bytes=sum(row[7] for row in rows))
        except _Full as full:
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
        return await self._require_reader().run(_read_batch(max_events, max_bytes, after_seq))

    async def settle(
        self, forwarded: Sequence[OutboxEntry], rejected: Sequence[Rejection] = ()
    ) -> int:
        """In one transaction: mark ``forwarded`` delivered, dead-letter ``rejected``.

        Returns the number of events still pending afterwards.
        """
        return await self._require_writer().submit(
            _settle_unit(forwarded, rejected, self._clock_ns())
        )

    async def record_error(self, text: str) -> None:
        """Remember the last delivery error (shown by status until a delivery succeeds)."""
        await self._require_writer().submit(_record_error_unit(text, self._clock_ns()))

    async def prune(self) -> int:
        """Delete forwarded rows older than the dedupe window; how many were deleted."""
        writer = self._require_writer()
        cutoff = self._clock_ns() - self._window_ns
        total = 0
        while True:
            deleted = await writer.submit(_prune_unit(cutoff))
            total += deleted
            if deleted < _PRUNE_CHUNK_ROWS:
                return total

    # -- reads ---------------------------------------------------------------

    async def get_pending(self, event_id: str) -> Event | None:
        """The pending event with this id, or None (forwarded, dead-lettered or unknown)."""

        def read(conn: sqlite3.Connection) -> Event | None:
            row = conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM outbox WHERE event_id = ? AND state = 0",  # noqa: S608 -- constant text
                (event_id,),
            ).fetchone()
            return None if row is None else decode_event(*row)

        return await self._require_reader().run(read)

    async def query_pending(self, query: EventQuery) -> EventPage:
        """Pending events in the window by ``(time_ns, event_id)``, like a store's ``query``."""
        if query.limit < 1:
            raise ValueError("query limit must be at least 1")
        if query.since_ns >= query.until_ns:
            return EventPage(events=[], next_after=None)
        events = await self._require_reader().run(read_window("outbox", query, where="state = 0"))
        return EventPage.of_candidates(events, query.limit)

    async def counts(self) -> OutboxCounts:
        """Pending events and bytes, oldest pending, dead letters, recent forwards, last error."""
        now = self._clock_ns()
        return await self._require_reader().run(lambda conn: _read_counts(conn, now))

    async def deadletters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters."""
        return await self._require_reader().run(_read_deadletters(limit))

    async def replay(self, event_ids: Sequence[str] | None = None) -> int:
        """Make dead letters pending again (all when ``event_ids`` is None); how many."""
        return await self._require_writer().submit(_replay_unit(event_ids))

    # -- synchronous variants for the command line ----------------------------

    async def status(self, *, backend: str = "", backend_ok: bool | None = None) -> OutboxStatus:
        """:class:`OutboxStatus` from the file (and the caller's live backend knowledge)."""
        counts = await self.counts()
        return self._status(counts, backend, backend_ok)

    def status_sync(self, *, backend: str = "") -> OutboxStatus:
        """:meth:`status`, blocking, without an event loop (backend state from the file)."""
        return self._status(self.counts_sync(), backend, None)

    def counts_sync(self) -> OutboxCounts:
        """:meth:`counts`, blocking, without an event loop."""
        now = self._clock_ns()
        return self._require_reader().run_sync(lambda conn: _read_counts(conn, now))

    def deadletters_sync(self, limit: int = 100) -> list[DeadLetter]:
        """:meth:`deadletters`, blocking, without an event loop."""
        return self._require_reader().run_sync(_read_deadletters(limit))

    def replay_sync(self, event_ids: Sequence[str] | None = None) -> int:
        """:meth:`replay`, blocking, without an event loop."""
        return self._require_writer().submit_sync(_replay_unit(event_ids), timeout_seconds=60.0)

    def repair_counts_sync(self) -> None:
        """Recompute the counters from the rows (run at start; cheap when little is pending)."""
        self._require_writer().submit_sync(_recount, timeout_seconds=60.0)

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
