"""The one query of a time window over a table of event rows, by ``(time_ns, event_id)``.

The embedded store's ``events`` and the outbox's pending rows are both read
with it. Only fixed fragments are joined into the text; every value is bound.
There is one lower bound: ``after`` when it lies inside the window (it then
implies ``since``, and SQLite seeks straight to it), else ``since`` (which
then implies ``after``). Deep pages thus cost what the first one does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from stats_service.events.model import Event
from stats_service.events.query import EventQuery
from stats_service.sqlite.rows import EVENT_COLUMNS, decode_event

__all__ = ["read_window", "window_sql"]


def window_sql(
    table: str, query: EventQuery, *, where: str = "", columns: str = EVENT_COLUMNS
) -> tuple[str, list[object]]:
    """The SELECT of ``columns`` (by default :data:`~.rows.EVENT_COLUMNS`) for one page of
    ``query`` (``limit + 1`` rows) from ``table``, and its parameters; ``where`` is a
    fixed extra condition."""
    clauses = [where] if where else []
    params: list[object]
    if query.after is not None and query.after[0] >= query.since_ns:
        clauses += ["(time_ns, event_id) > (?, ?)", "time_ns < ?"]
        params = [query.after[0], query.after[1], query.until_ns]
    else:
        clauses += ["time_ns >= ?", "time_ns < ?"]
        params = [query.since_ns, query.until_ns]
    for column, value in (
        ("measurement", query.measurement),
        ("event", query.event),
        ("uid", query.uid),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    params.append(query.limit + 1)
    sql = (
        f"SELECT {columns} FROM {table} WHERE {' AND '.join(clauses)}"  # noqa: S608 -- fixed fragments only
        " ORDER BY time_ns, event_id LIMIT ?"
    )
    return sql, params


def read_window(
    table: str,
    query: EventQuery,
    *,
    where: str = "",
    columns: str = EVENT_COLUMNS,
    decode: Callable[..., Event] = decode_event,
) -> Callable[[sqlite3.Connection], list[Event]]:
    """A read callable returning the events of :func:`window_sql` (up to ``limit + 1``);
    ``decode`` takes the ``columns`` of one row."""
    sql, params = window_sql(table, query, where=where, columns=columns)

    def read(conn: sqlite3.Connection) -> list[Event]:
        return [decode(*row) for row in conn.execute(sql, params)]

    return read
