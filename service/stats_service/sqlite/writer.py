"""The single writer of one SQLite file: queued units committed in groups, one fsync each."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from stats_service.sqlite.errors import DatabaseClosedError
from stats_service.sqlite.schema import Migration, configure_writer, migrate

__all__ = ["SQLiteWriter"]

T = TypeVar("T")

_log = logging.getLogger(__name__)

_NEW = "new"
_RUNNING = "running"
_CLOSING = "closing"
_CLOSED = "closed"


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
                configure_writer(conn)
                migrate(conn, self._migrations)
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
