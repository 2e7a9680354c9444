"""Read-only connections to one SQLite file, used from a small thread pool."""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from stats_service.sqlite.errors import DatabaseClosedError

__all__ = ["SQLiteReader"]

T = TypeVar("T")


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
