"""The outbox's write units: append, settle, replay, prune, record an error, recount.

Each is a callable run by the outbox's :class:`~stats_service.sqlite.writer.SQLiteWriter`
inside one group transaction; the counters in ``outbox_meta`` change in the
same transaction as the rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Final

from stats_service.delivery.outbox.rows import row_size
from stats_service.delivery.outbox.schema import (
    MAX_ERROR_CHARS,
    MAX_TIME_NS,
    NS_PER_SECOND,
    PRUNE_CHUNK_ROWS,
    RATE_HISTORY_SECONDS,
)
from stats_service.delivery.queue import Appended, OutboxEntry, Rejection
from stats_service.errors import InvalidEvent
from stats_service.events.model import Event
from stats_service.sqlite import insert_rows
from stats_service.sqlite.rows import encode_body
from stats_service.storage.influx.series import series_hash
from stats_service.storage.influx.stored import EncodedEvent, event_line, retimed_line

__all__ = [
    "ROW_SIZE",
    "Full",
    "Row",
    "append_unit",
    "prune_unit",
    "record_error_unit",
    "recount",
    "replay_unit",
    "rows_of",
    "rows_of_lines",
    "settle_unit",
]

Row = tuple[str, int, int, str, str | None, str | None, bytes | None, bytes | None, int, int]
"""One insert row: id, series, time, measurement, event, uid, line, body, size, accepted."""

ROW_SIZE: Final = 8
"""Where a :data:`Row` holds its size."""

_INSERT = (
    "INSERT INTO outbox (event_id, series, time_ns, measurement, event, uid, line, body, size,"
    " accepted_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_OR_IGNORE_ROWS = (
    "INSERT OR IGNORE INTO outbox (event_id, series, time_ns, measurement, event, uid, line,"
    " body, size, accepted_ns) VALUES"
)
_META = "SELECT pending_events, pending_bytes, last_accepted_ns FROM outbox_meta WHERE id = 0"
_MARK_FORWARDED = (
    "UPDATE outbox SET state = 1, done_ns = ?, line = NULL, body = NULL, measurement = NULL,"
    " event = NULL, uid = NULL WHERE seq = ? AND state = 0"
)
_MARK_FORWARDED_RANGE = (
    "UPDATE outbox SET state = 1, done_ns = ?, line = NULL, body = NULL, measurement = NULL,"
    " event = NULL, uid = NULL WHERE seq BETWEEN ? AND ? AND state = 0 RETURNING seq"
)
_MARK_DEAD = (
    "UPDATE outbox SET state = 2, done_ns = ?, reason = ?, influx_status = ?"
    " WHERE seq = ? AND state = 0"
)


def rows_of(events: Sequence[Event]) -> list[Row]:
    """One insert row per event (``accepted_ns`` is filled in by the writer).

    Runs once per accepted event on the event loop: the common case (a line
    stands for the event) is written out here rather than through
    :func:`~.rows.encode_row` and :func:`~.rows.row_size`, which it matches.
    """
    rows: list[Row] = []
    append = rows.append
    for event in events:
        tags = event.tags
        uid = event.fields.get("uid")
        line = event_line(event)
        if line is not None:
            body = None
            size = len(line)
        else:
            body = encode_body(event)
            size = row_size(event, None, body)
        append(
            (
                event.event_id,
                series_hash(event.measurement, tags),
                event.time_ns,
                event.measurement,
                tags.get("event"),
                uid if isinstance(uid, str) else None,
                line,
                body,
                size,
                0,
            )
        )
    return rows


def rows_of_lines(events: Sequence[EncodedEvent]) -> list[Row]:
    """:func:`rows_of` for events already encoded: the same rows, nothing encoded here."""
    return [
        (
            event.event_id,
            event.series,
            event.time_ns,
            event.measurement,
            event.tags.get("event"),
            event.uid,
            event.line,
            None,
            len(event.line),
            0,
        )
        for event in events
    ]


class Full(Exception):
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


def _insert_one_by_one(conn: sqlite3.Connection, rows: list[Row]) -> tuple[int, int]:
    """Insert rows skipping known ids and moving taken times; (count, bytes) inserted."""
    inserted = size = 0
    next_free: dict[tuple[int, int], int] = {}  # (series, sent time) -> first time to try
    for row in rows:
        event_id, series, time_ns = row[0], row[1], row[2]
        if conn.execute("SELECT 1 FROM outbox WHERE event_id = ?", (event_id,)).fetchone():
            continue
        start = next_free.get((series, time_ns), time_ns)
        free = _free_time(conn, series, start)
        if free > MAX_TIME_NS:
            raise InvalidEvent(
                f"event {event_id!r}: no free timestamp left in its series", key="time"
            )
        next_free[(series, time_ns)] = free + 1
        line = row[6]
        if line is not None and free != time_ns:
            line = retimed_line(line, free)
        conn.execute(_INSERT, (*row[:2], free, *row[3:6], line, *row[7:]))
        inserted += 1
        size += row[ROW_SIZE]
    return inserted, size


def append_unit(
    rows: list[Row], accepted_ns: int, max_events: int, max_bytes: int
) -> Callable[[sqlite3.Connection], Appended]:
    def unit(conn: sqlite3.Connection) -> Appended:
        pending, pending_bytes, last_accepted = conn.execute(_META).fetchone()
        stamp = max(accepted_ns, last_accepted)  # keeps acceptance times monotonic in seq
        stamped = [(*row[:9], stamp) for row in rows]
        # Fast path: every row is new and every slot free (one multi-row insert).
        conn.execute("SAVEPOINT fast")
        before = conn.total_changes
        insert_rows(conn, _INSERT_OR_IGNORE_ROWS, stamped)
        if conn.total_changes - before == len(stamped):
            conn.execute("RELEASE fast")
            inserted, size = len(stamped), sum(row[ROW_SIZE] for row in stamped)
        else:
            conn.execute("ROLLBACK TO fast")
            conn.execute("RELEASE fast")
            inserted, size = _insert_one_by_one(conn, stamped)
        if not inserted:
            return Appended(0, pending, pending_bytes)
        if pending + inserted > max_events or pending_bytes + size > max_bytes:
            raise Full(pending, pending_bytes, inserted, size)
        conn.execute(
            "UPDATE outbox_meta SET pending_events = pending_events + ?,"
            " pending_bytes = pending_bytes + ?, last_accepted_ns = ? WHERE id = 0",
            (inserted, size, stamp),
        )
        return Appended(inserted, pending + inserted, pending_bytes + size)

    return unit


def recount(conn: sqlite3.Connection) -> None:
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


def settle_unit(
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
            recount(conn)
        if forwarded:
            second = now_ns // NS_PER_SECOND
            conn.execute(
                "INSERT INTO forwarded_per_second (second, events) VALUES (?, ?)"
                " ON CONFLICT (second) DO UPDATE SET events = events + excluded.events",
                (second, len(forwarded)),
            )
            conn.execute(
                "DELETE FROM forwarded_per_second WHERE second < ?",
                (second - RATE_HISTORY_SECONDS,),
            )
            conn.execute(
                "UPDATE outbox_meta SET last_forward_ns = ?, last_error = NULL,"
                " last_error_ns = NULL WHERE id = 0",
                (now_ns,),
            )
        (pending,) = conn.execute("SELECT pending_events FROM outbox_meta WHERE id = 0").fetchone()
        return int(pending)

    return unit


def replay_unit(
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


def prune_unit(cutoff_ns: int) -> Callable[[sqlite3.Connection], int]:
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
            (low, PRUNE_CHUNK_ROWS),
        )
        return cursor.rowcount

    return unit


def record_error_unit(text: str, now_ns: int) -> Callable[[sqlite3.Connection], None]:
    def unit(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE outbox_meta SET last_error = ?, last_error_ns = ? WHERE id = 0",
            (text[:MAX_ERROR_CHARS], now_ns),
        )

    return unit
