"""Group-commit access to one SQLite file: one writer thread, pooled readers.

The generic engine under the embedded store and the outbox; it knows nothing
of events or delivery.

Every write goes through a :class:`~.writer.SQLiteWriter`, which owns the only
write connection and runs it on one dedicated thread. Callers hand it a *unit*
of work, a callable ``(sqlite3.Connection) -> T``, and wait for its result. The
thread takes everything queued so far (up to a count and a byte budget), runs
all of it in one transaction, each unit inside its own ``SAVEPOINT``, and
commits once: concurrent callers share one fsync. A unit that raises rolls
back to its savepoint and fails only its own caller.

Reads never queue behind writes: a :class:`~.reader.SQLiteReader` keeps a few
read-only connections and runs read callables on its own small thread pool,
which WAL mode lets proceed while the writer commits.

Every connection runs with ``journal_mode=WAL``, ``synchronous=FULL``,
``foreign_keys=ON`` and a busy timeout. The schema is a list of migrations;
``PRAGMA user_version`` counts how many were applied (:mod:`.schema`).

- :mod:`.writer`, :mod:`.reader`, :mod:`.schema`: the engine;
- :mod:`.inserts`: multi-row ``INSERT`` statements;
- :mod:`.rows`: how an event is kept in a row;
- :mod:`.window`: the one query of a time window by ``(time_ns, event_id)``.
"""

from stats_service.sqlite.errors import DatabaseClosedError
from stats_service.sqlite.inserts import insert_rows
from stats_service.sqlite.reader import SQLiteReader
from stats_service.sqlite.schema import Migration
from stats_service.sqlite.writer import SQLiteWriter

__all__ = ["DatabaseClosedError", "Migration", "SQLiteReader", "SQLiteWriter", "insert_rows"]
