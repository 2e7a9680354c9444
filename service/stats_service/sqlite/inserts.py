"""Insert many rows with a few multi-row ``INSERT`` statements."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence

__all__ = ["insert_rows"]

_ROWS_PER_STATEMENT = (256, 64, 16, 4, 1)
"""The row counts of the multi-row INSERT statements (each prepared once, then cached)."""


def insert_rows(
    conn: sqlite3.Connection,
    insert: str,
    rows: Sequence[Sequence[object]],
    *,
    suffix: str = "",
) -> None:
    """Insert ``rows`` in order with a few multi-row statements.

    ``insert`` is ``INSERT INTO table (columns) VALUES`` and ``suffix`` what
    follows the values (an ``ON CONFLICT`` clause); every row has one value
    per column, all bound. Unlike ``executemany`` (one step per row, and the
    sqlite3 module lets go of the GIL for each step, so a writer thread has
    to win it back once per row while the event loop is busy), this takes one
    step per statement: a group of 100 rows needs 5 statements, not 100.
    Statements hold 256, 64, 16, 4 or 1 rows, so only five texts per table
    are ever prepared.
    """
    if not rows:
        return
    width = len(rows[0])
    start = 0
    for count in _ROWS_PER_STATEMENT:
        while len(rows) - start >= count:
            chunk = rows[start : start + count]
            sql = _multi_row_sql(insert, suffix, width, count)
            conn.execute(sql, [value for row in chunk for value in row])
            start += count


@functools.lru_cache(maxsize=64)
def _multi_row_sql(insert: str, suffix: str, width: int, count: int) -> str:
    """``insert`` with ``count`` rows of ``width`` placeholders, then ``suffix``."""
    row = "(" + ", ".join("?" * width) + ")"
    return f"{insert} {', '.join([row] * count)} {suffix}"
