"""Schema step 3: rows keep the line they will send instead of a JSON body.

Files written before this step (steps 1 and 2) hold every pending and
dead-lettered event as an orjson body. This step adds the ``line`` column and
converts each such row whose event a line stands for exactly
(:func:`~stats_service.delivery.outbox.rows.encode_row`); the others keep
their body. Forwarded rows carry no event, only what deduplication,
timestamp uniqueness and partial reads need, and are left as they are, so
the dedupe window survives the step. Sizes change with the format, so the
pending counters are recomputed from the rows.

Like every step it runs inside one transaction
(:func:`stats_service.sqlite.schema.migrate`): a crash half-way leaves the
file as it was, at step 2, and the next start runs the step again.
"""

from __future__ import annotations

import sqlite3

from stats_service.delivery.outbox.rows import encode_row, row_size
from stats_service.sqlite.rows import decode_event

__all__ = ["CHUNK_ROWS", "store_lines"]

CHUNK_ROWS = 5000
"""Rows read and rewritten at a time."""

_CONVERTIBLE = (
    "SELECT seq, event_id, measurement, time_ns, body FROM outbox"
    " WHERE state <> 1 AND body IS NOT NULL AND seq > ? ORDER BY seq LIMIT ?"
)


def store_lines(conn: sqlite3.Connection) -> None:
    """Add ``line`` and convert the pending and dead-lettered rows (one transaction)."""
    conn.execute("ALTER TABLE outbox ADD COLUMN line BLOB")
    after = 0
    while True:
        rows = conn.execute(_CONVERTIBLE, (after, CHUNK_ROWS)).fetchall()
        if not rows:
            break
        updates: list[tuple[bytes, int, int]] = []
        for seq, event_id, measurement, time_ns, body in rows:
            event = decode_event(event_id, measurement, time_ns, body)
            line, _ = encode_row(event)
            if line is not None:
                updates.append((line, row_size(event, line, None), seq))
        conn.executemany("UPDATE outbox SET line = ?, body = NULL, size = ? WHERE seq = ?", updates)
        after = rows[-1][0]
    pending, size = conn.execute(
        "SELECT count(*), coalesce(sum(size), 0) FROM outbox WHERE state = 0"
    ).fetchone()
    conn.execute(
        "UPDATE outbox_meta SET pending_events = ?, pending_bytes = ? WHERE id = 0",
        (pending, size),
    )
