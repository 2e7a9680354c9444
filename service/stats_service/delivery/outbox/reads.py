"""The outbox's reads: counters, pending batches, dead letters, one pending event."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from stats_service.delivery.outbox.rows import OUTBOX_COLUMNS, decode_row
from stats_service.delivery.outbox.schema import NS_PER_SECOND, RATE_WINDOW_SECONDS
from stats_service.delivery.queue import DeadLetter, OutboxCounts, OutboxEntry
from stats_service.events.model import Event
from stats_service.sqlite.rows import decode_event

__all__ = ["read_batch", "read_counts", "read_deadletters", "read_pending"]


def read_counts(conn: sqlite3.Connection, now_ns: int) -> OutboxCounts:
    pending, size, dead, last_forward, last_error, last_error_ns = conn.execute(
        "SELECT pending_events, pending_bytes, dead_letters, last_forward_ns, last_error,"
        " last_error_ns FROM outbox_meta WHERE id = 0"
    ).fetchone()
    oldest = conn.execute(
        "SELECT accepted_ns FROM outbox WHERE state = 0 ORDER BY seq LIMIT 1"
    ).fetchone()
    second = now_ns // NS_PER_SECOND
    (recent,) = conn.execute(
        "SELECT coalesce(sum(events), 0) FROM forwarded_per_second WHERE second > ?",
        (second - RATE_WINDOW_SECONDS,),
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


def read_batch(
    max_events: int, max_bytes: int, after_seq: int
) -> Callable[[sqlite3.Connection], list[OutboxEntry]]:
    def read(conn: sqlite3.Connection) -> list[OutboxEntry]:
        entries: list[OutboxEntry] = []
        total = 0
        cursor = conn.execute(
            f"SELECT seq, size, {OUTBOX_COLUMNS} FROM outbox"  # noqa: S608 -- constant text
            " WHERE state = 0 AND seq > ? ORDER BY seq LIMIT ?",
            (after_seq, max_events),
        )
        for seq, size, event_id, measurement, time_ns, line, body in cursor:
            if entries and total + size > max_bytes:
                break
            total += size
            if line is not None:  # sent as it is; decoded only if a backend wants the event
                entries.append(OutboxEntry.of_line(seq, size, event_id, line))
            else:
                entries.append(
                    OutboxEntry(seq, decode_event(event_id, measurement, time_ns, body), size)
                )
        cursor.close()
        return entries

    return read


def read_deadletters(limit: int) -> Callable[[sqlite3.Connection], list[DeadLetter]]:
    def read(conn: sqlite3.Connection) -> list[DeadLetter]:
        cursor = conn.execute(
            f"SELECT {OUTBOX_COLUMNS}, reason, influx_status, accepted_ns, done_ns"  # noqa: S608 -- constant text
            " FROM outbox WHERE state = 2 ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [
            DeadLetter(
                event=decode_row(*row[:5]),
                reason=row[5] or "",
                status=row[6],
                accepted_ns=row[7],
                dead_lettered_ns=row[8],
            )
            for row in cursor
        ]

    return read


def read_pending(event_id: str) -> Callable[[sqlite3.Connection], Event | None]:
    """The pending event with this id, or None."""

    def read(conn: sqlite3.Connection) -> Event | None:
        row = conn.execute(
            f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE event_id = ? AND state = 0",  # noqa: S608 -- constant text
            (event_id,),
        ).fetchone()
        return None if row is None else decode_row(*row)

    return read
