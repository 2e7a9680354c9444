"""The outbox file's schema, and the numbers its reads and writes share."""

from __future__ import annotations

from stats_service.delivery.outbox.migrate_lines import store_lines
from stats_service.sqlite import Migration

__all__ = [
    "MAX_ERROR_CHARS",
    "MAX_TIME_NS",
    "MIGRATIONS",
    "NS_PER_SECOND",
    "PRUNE_CHUNK_ROWS",
    "RATE_HISTORY_SECONDS",
    "RATE_WINDOW_SECONDS",
]

PENDING = 0
"""Row state: committed, not yet known to be in the backend."""
FORWARDED = 1
"""Row state: the backend stored it; kept for the dedupe window."""
DEAD = 2
"""Row state: refused for good (a dead letter)."""

NS_PER_SECOND = 1_000_000_000
MAX_TIME_NS = 2**63 - 2  # the largest time InfluxDB stores
RATE_WINDOW_SECONDS = 60
RATE_HISTORY_SECONDS = 120
PRUNE_CHUNK_ROWS = 20_000
MAX_ERROR_CHARS = 1000

MIGRATIONS: tuple[Migration, ...] = (
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
    # 2: the backend whose service writes the outbox (NULL in files made before
    # this step until the service next starts on them), for ``outbox status``;
    # forwarded rows by forwarding time, for partial window reads
    # (``delivery.partial``).
    """
    ALTER TABLE outbox_meta ADD COLUMN backend TEXT;
    CREATE INDEX outbox_forwarded_by_done ON outbox (done_ns) WHERE state = 1;
    """,
    # 3: a pending or dead-lettered event is kept as the line-protocol line the
    # forwarder sends (``line``), ``body`` only where no line stands for it
    # (``.rows``); existing rows are converted (``.migrate_lines``).
    store_lines,
)
"""The outbox schema; ``PRAGMA user_version`` counts the applied steps."""
