"""The outbox read as a log in acceptance order, for the live stream.

Rows keep their ``seq`` (the rowid, assigned under the write lock) from
acceptance until the dedupe window prunes them; a forwarded row has lost its
line (or body), so its entry carries only the id and the caller fetches the event from
the backend.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from stats_service.delivery.outbox.rows import decode_row
from stats_service.storage.log import LogEntry

__all__ = ["read_head", "read_log_after", "read_position"]

_AFTER = (
    "SELECT seq, event_id, measurement, time_ns, line, body FROM outbox"
    " WHERE seq > ? AND state <> 2 ORDER BY seq LIMIT ?"
)


def read_log_after(seq: int, limit: int) -> Callable[[sqlite3.Connection], list[LogEntry]]:
    """Entries after ``seq`` (dead letters left out: they were never stored)."""

    def read(conn: sqlite3.Connection) -> list[LogEntry]:
        entries: list[LogEntry] = []
        for row_seq, event_id, measurement, time_ns, line, body in conn.execute(
            _AFTER, (seq, limit)
        ):
            event = (
                None
                if (line is None and body is None) or measurement is None
                else decode_row(event_id, measurement, time_ns, line, body)
            )
            entries.append(LogEntry(int(row_seq), str(event_id), event))
        return entries

    return read


def read_position(event_id: str) -> Callable[[sqlite3.Connection], int | None]:
    """The ``seq`` of the row of ``event_id``, or None."""

    def read(conn: sqlite3.Connection) -> int | None:
        row = conn.execute("SELECT seq FROM outbox WHERE event_id = ?", (event_id,)).fetchone()
        return None if row is None else int(row[0])

    return read


def read_head(conn: sqlite3.Connection) -> int:
    """The newest ``seq`` (0 when empty)."""
    (value,) = conn.execute("SELECT coalesce(max(seq), 0) FROM outbox").fetchone()
    return int(value)
