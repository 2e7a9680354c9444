"""Group-commit access to one SQLite file: one writer thread, pooled readers.

Every write goes through a :class:`SQLiteWriter`, which owns the only write
connection and runs it on one dedicated thread. Callers hand it a *unit* of
work, a callable ``(sqlite3.Connection) -> T``, and wait for its result. The
thread takes everything queued so far (up to a count and a byte budget), runs
all of it in one transaction, each unit inside its own ``SAVEPOINT``, and
commits once: concurrent callers share one fsync. A unit that raises rolls
back to its savepoint and fails only its own caller.

Reads never queue behind writes: a :class:`SQLiteReader` keeps a few read-only
connections and runs read callables on its own small thread pool, which WAL
mode lets proceed while the writer commits.

Every connection runs with ``journal_mode=WAL``, ``synchronous=FULL``,
``foreign_keys=ON`` and a busy timeout. The schema is a list of migrations;
``PRAGMA user_version`` counts how many were applied.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from stats_service.errors import ServiceUnavailable

__all__ = ["DatabaseClosedError", "Migration", "SQLiteReader", "SQLiteWriter", "insert_rows"]

T = TypeVar("T")

Migration = str | Callable[[sqlite3.Connection], None]
"""One schema step: an SQL script, or a callable run inside the step's transaction."""

_log = logging.getLogger(__name__)

_NEW = "new"
_RUNNING = "running"
_CLOSING = "closing"
_CLOSED = "closed"


class DatabaseClosedError(ServiceUnavailable):
    """The writer or reader is not open (never opened, closing, closed or failed)."""


class _Job:
    """One queued unit of work and the future that receives its outcome."""

    __slots__ = ("future", "loop", "size", "unit")

    def __init__(
        self,
        unit: Callable[[sqlite3.Connection], Any],
        size: int,
        loop: asyncio.AbstractEventLoop | None,
        future: asyncio.Future[Any] | concurrent.futures.Future[Any],
    ) -> None:
        self.unit = unit
        self.size = size
        self.loop = loop  # None: a synchronous caller waits on a concurrent future
        self.future = future


_Outcome = tuple[_Job, BaseException | None, Any]


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


def _configure_writer(conn: sqlite3.Connection) -> None:
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


def _migrate(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> None:
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


def _settle_in_loop(items: list[tuple[asyncio.Future[Any], BaseException | None, Any]]) -> None:
    """Resolve asyncio futures; runs on their loop. Cancelled callers are skipped."""
    for future, error, value in items:
        if future.done():
            continue
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)


def _deliverable(exc: Exception) -> Exception:
    if isinstance(exc, StopIteration):  # futures refuse StopIteration
        wrapped = RuntimeError("unit raised StopIteration")
        wrapped.__cause__ = exc
        return wrapped
    return exc


def _run_unit(conn: sqlite3.Connection, job: _Job, *, alone: bool) -> tuple[Exception | None, Any]:
    """Run one unit inside its own savepoint; on error undo just its effects.

    ``alone``: the unit is the only one of its transaction, which then serves
    as its savepoint (on error the caller rolls the transaction back); this
    saves two statements, and two GIL hand-offs, per lone unit.
    """
    if alone:
        try:
            return None, job.unit(conn)
        except Exception as exc:  # noqa: BLE001 -- delivered to the unit's caller
            return _deliverable(exc), None
    conn.execute("SAVEPOINT unit")
    try:
        value = job.unit(conn)
    except Exception as exc:  # noqa: BLE001 -- delivered to the unit's caller
        if conn.in_transaction:
            conn.execute("ROLLBACK TO unit")
            conn.execute("RELEASE unit")
        return _deliverable(exc), None
    if conn.in_transaction:
        conn.execute("RELEASE unit")
    return None, value


def _lost_transaction() -> sqlite3.OperationalError:
    return sqlite3.OperationalError("the transaction was rolled back by a later unit's failure")


def _revoke(outcomes: list[_Outcome], succeeded: list[int], error: BaseException) -> None:
    """Turn the successes of an abandoned transaction into failures."""
    for index in succeeded:
        outcomes[index] = (outcomes[index][0], error, None)
    succeeded.clear()


class SQLiteWriter:
    """The single writer of one SQLite file, committing queued units in groups.

    ``open()`` starts the thread, configures the connection and applies
    ``migrations``; ``submit()`` (asyncio) and ``submit_sync()`` (threads) queue
    a unit; ``close()`` runs everything already queued, then stops. A unit must
    not begin, commit or roll back transactions itself. Cancelling the await of
    ``submit()`` does not withdraw the unit: it still runs and commits.

    ``commits`` counts committed transactions, so tests and metrics can see how
    many units shared each fsync.
    """

    def __init__(
        self,
        path: Path,
        *,
        migrations: Sequence[Migration] = (),
        thread_name: str = "stats-sqlite-writer",
        max_batch_units: int = 1000,
        max_batch_bytes: int = 8 * 1024 * 1024,
        busy_timeout_seconds: float = 5.0,
    ) -> None:
        if max_batch_units < 1:
            raise ValueError("max_batch_units must be at least 1")
        self._path = path
        self._migrations = tuple(migrations)
        self._thread_name = thread_name
        self._max_units = max_batch_units
        self._max_bytes = max_batch_bytes
        self._busy_timeout = busy_timeout_seconds
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._state = _NEW
        self._thread: threading.Thread | None = None
        self._commits = 0

    @property
    def path(self) -> Path:
        """The SQLite file this writer owns."""
        return self._path

    @property
    def commits(self) -> int:
        """Transactions committed so far (one per group of units)."""
        return self._commits

    @property
    def pending(self) -> int:
        """Units queued and not yet taken by the writer thread (approximate)."""
        return self._queue.qsize()

    @property
    def running(self) -> bool:
        """Whether the writer accepts units now."""
        return self._state == _RUNNING

    def open(self) -> None:
        """Start the writer thread; return once the schema is current.

        Raises what connecting or migrating raised; the writer is then closed.
        """
        with self._lock:
            if self._state != _NEW:
                raise RuntimeError("an SQLiteWriter opens once; create a new one")
            self._state = _CLOSING  # not accepting units until the thread is ready
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        thread = threading.Thread(
            target=self._run, args=(ready,), name=self._thread_name, daemon=True
        )
        self._thread = thread
        thread.start()
        try:
            ready.result()
        except BaseException:
            thread.join()
            with self._lock:
                self._state = _CLOSED
            raise
        with self._lock:
            self._state = _RUNNING

    def submit(
        self, unit: Callable[[sqlite3.Connection], T], *, size_bytes: int = 0
    ) -> asyncio.Future[T]:
        """Queue ``unit``; the returned future resolves after its group commits.

        Call from a running event loop. ``size_bytes`` (roughly the data the
        unit writes) counts against the per-group byte budget.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._enqueue(_Job(unit, size_bytes, loop, future))
        return future

    def submit_sync(
        self,
        unit: Callable[[sqlite3.Connection], T],
        *,
        size_bytes: int = 0,
        timeout_seconds: float | None = None,
    ) -> T:
        """Queue ``unit`` and block until its group commits; for non-async callers.

        Raises ``TimeoutError`` if no outcome arrives within ``timeout_seconds``
        (the unit may still commit later).
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("submit_sync from inside a unit would wait for itself")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._enqueue(_Job(unit, size_bytes, None, future))
        return future.result(timeout_seconds)

    def close(self, timeout_seconds: float = 10.0) -> bool:
        """Stop taking units, run those already queued, stop the thread.

        Returns False if the thread is still busy after ``timeout_seconds``;
        it then finishes in the background (it is a daemon thread).
        """
        with self._lock:
            if self._state == _NEW:
                self._state = _CLOSED
                return True
            if self._state == _RUNNING:
                self._state = _CLOSING
                self._queue.put(None)
        thread = self._thread
        if thread is None:  # open() has not started the thread yet
            return True
        thread.join(timeout_seconds)
        if thread.is_alive():
            return False
        with self._lock:
            self._state = _CLOSED
        return True

    def _enqueue(self, job: _Job) -> None:
        with self._lock:
            if self._state != _RUNNING:
                raise DatabaseClosedError(f"the writer of {self._path.name} is not open")
            self._queue.put(job)

    # -- the writer thread --------------------------------------------------

    def _run(self, ready: concurrent.futures.Future[None]) -> None:
        try:
            conn = sqlite3.connect(
                self._path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=True,
            )
        except BaseException as exc:  # noqa: BLE001 -- handed to open(), which re-raises it
            ready.set_exception(exc)
            return
        try:
            try:
                _configure_writer(conn)
                _migrate(conn, self._migrations)
            except BaseException as exc:  # noqa: BLE001 -- handed to open(), which re-raises it
                ready.set_exception(exc)
                return
            ready.set_result(None)
            self._serve(conn)
        except BaseException:  # noqa: BLE001 -- logged; queued callers are failed, not stranded
            _log.exception("the SQLite writer of %s stopped on an unexpected error", self._path)
            self._abandon()
        finally:
            conn.close()

    def _serve(self, conn: sqlite3.Connection) -> None:
        """Take groups of units off the queue and run each in one transaction."""
        take = self._queue.get
        take_now = self._queue.get_nowait
        carried: _Job | None = None
        stopping = False
        while not stopping:
            if carried is not None:
                first, carried = carried, None
            else:
                first_or_stop = take()
                if first_or_stop is None:
                    return
                first = first_or_stop
            batch = [first]
            size = first.size
            while len(batch) < self._max_units:
                try:
                    job = take_now()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                if size + job.size > self._max_bytes:
                    carried = job
                    break
                batch.append(job)
                size += job.size
            try:
                outcomes = self._execute(conn, batch)
            except BaseException:
                failure = DatabaseClosedError(f"the writer of {self._path.name} failed")
                self._settle([(job, failure, None) for job in batch])
                raise
            self._settle(outcomes)

    def _execute(self, conn: sqlite3.Connection, batch: list[_Job]) -> list[_Outcome]:
        """Run ``batch`` in one transaction; one outcome per job, in order."""
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            return [(job, exc, None) for job in batch]
        outcomes: list[_Outcome] = []
        succeeded: list[int] = []  # indexes of outcomes whose effects await this COMMIT
        for job in batch:
            if not conn.in_transaction:
                # A unit made SQLite abandon the whole transaction (disk full,
                # I/O error): what succeeded before it is gone too.
                _revoke(outcomes, succeeded, _lost_transaction())
                try:
                    conn.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as exc:
                    outcomes.extend((rest, exc, None) for rest in batch[len(outcomes) :])
                    return outcomes
            error, value = _run_unit(conn, job, alone=len(batch) == 1)
            if error is None:
                succeeded.append(len(outcomes))
            outcomes.append((job, error, value))
        if not conn.in_transaction:
            _revoke(outcomes, succeeded, _lost_transaction())
        elif not succeeded:
            conn.execute("ROLLBACK")
        else:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                _revoke(outcomes, succeeded, exc)
            else:
                self._commits += 1
        return outcomes

    @staticmethod
    def _settle(outcomes: list[_Outcome]) -> None:
        """Deliver outcomes: one wake-up per event loop, directly to threads."""
        by_loop: dict[
            asyncio.AbstractEventLoop,
            list[tuple[asyncio.Future[Any], BaseException | None, Any]],
        ] = {}
        for job, error, value in outcomes:
            if job.loop is None:
                sync_future = job.future
                assert isinstance(sync_future, concurrent.futures.Future)
                if error is None:
                    sync_future.set_result(value)
                else:
                    sync_future.set_exception(error)
            else:
                async_future = job.future
                assert isinstance(async_future, asyncio.Future)
                by_loop.setdefault(job.loop, []).append((async_future, error, value))
        for loop, items in by_loop.items():
            # A closed loop raises RuntimeError: nobody is waiting for these outcomes.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle_in_loop, items)

    def _abandon(self) -> None:
        """After an unexpected fault: refuse new units and fail the queued ones."""
        with self._lock:
            self._state = _CLOSED
        failure = DatabaseClosedError(f"the writer of {self._path.name} stopped on an error")
        abandoned: list[_Outcome] = []
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                abandoned.append((job, failure, None))
        self._settle(abandoned)


class SQLiteReader:
    """Read-only connections to one SQLite file, used from a small thread pool.

    ``run()`` executes a read callable off the event loop; ``run_sync()`` runs
    it on the calling thread. Connections are opened on demand, reused, and
    set ``query_only`` so a read can never write. The file must already exist
    (open the writer first: it creates the schema).
    """

    def __init__(
        self,
        path: Path,
        *,
        max_connections: int = 4,
        busy_timeout_seconds: float = 5.0,
        thread_name_prefix: str = "stats-sqlite-reader",
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._path = path
        self._max_connections = max_connections
        self._busy_timeout = busy_timeout_seconds
        self._thread_name_prefix = thread_name_prefix
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._closed = False

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` with a read connection on the reader pool and return its result."""
        with self._lock:
            if self._closed:
                raise DatabaseClosedError(f"the reader of {self._path.name} is closed")
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self._max_connections,
                    thread_name_prefix=self._thread_name_prefix,
                )
            executor = self._executor
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, self.run_sync, work)

    def run_sync(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` with a read connection on the calling thread."""
        conn = self._acquire()
        try:
            return work(conn)
        finally:
            self._release(conn)

    def close(self) -> None:
        """Wait for running reads, then close every connection."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _acquire(self) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise DatabaseClosedError(f"the reader of {self._path.name} is closed")
            if self._idle:
                return self._idle.pop()
        uri = f"{self._path.resolve().as_uri()}?mode=rw"
        conn = sqlite3.connect(
            uri,
            uri=True,
            timeout=self._busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    def _release(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        with self._lock:
            if not self._closed and len(self._idle) < self._max_connections:
                self._idle.append(conn)
                return
        conn.close()
