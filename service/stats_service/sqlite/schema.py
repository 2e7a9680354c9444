"""Connection settings of the writer and schema migrations (``PRAGMA user_version``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

__all__ = ["Migration", "configure_writer", "migrate"]

Migration = str | Callable[[sqlite3.Connection], None]
"""One schema step: an SQL script, or a callable run inside the step's transaction."""


def configure_writer(conn: sqlite3.Connection) -> None:
    (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"cannot switch the database to WAL mode (got {mode!r})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")


def _statements(script: str) -> list[str]:
    """Split an SQL script into complete statements (trigger bodies stay whole)."""
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                statements.append(pending)
            pending = ""
    if pending.strip(" \t\r\n;"):
        raise sqlite3.ProgrammingError(f"incomplete SQL statement in migration: {pending!r}")
    return statements


def _check_version(version: int, known: int) -> None:
    if version > known:
        raise sqlite3.DatabaseError(
            f"database schema version {version} is newer than this code knows ({known}); "
            "refusing to open it"
        )


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> None:
    """Apply the migrations ``user_version`` says are missing, one transaction each.

    The version is read inside ``BEGIN IMMEDIATE`` so two processes opening the
    same file at once cannot both apply a step.
    """
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            _check_version(version, len(migrations))
            if version == len(migrations):
                conn.execute("COMMIT")
                return
            step = migrations[version]
            if isinstance(step, str):
                for statement in _statements(step):
                    conn.execute(statement)
            else:
                step(conn)
            # PRAGMA takes no bound parameters; the value is an int we computed.
            conn.execute(f"PRAGMA user_version = {int(version) + 1:d}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
