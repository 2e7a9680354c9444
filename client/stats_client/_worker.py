"""The background worker: a bounded buffer drained by one lazily started daemon thread.

``submit`` never blocks (except briefly under the ``block`` policy) and says
whether the item was queued; ``flush(timeout)`` waits until everything queued
before the call is resolved; ``close(timeout)`` flushes, stops the thread and
reports what was lost. After ``os.fork()`` the child starts with an empty
buffer, new locks and a new thread; at interpreter exit every live worker is
drained within its budget without starting threads.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable

from stats_client import _fork
from stats_client._config import DropPolicy, ErrorCallback
from stats_client._counters import Counters, DeliveryCounters, DropReason, call_safely
from stats_client._delivery import BatchSender, DeliveryOutcome
from stats_client._wire import WireItem

__all__ = ["Worker", "drain_all_at_exit"]

_logger = logging.getLogger("stats_client")
_live: weakref.WeakSet[Worker] = weakref.WeakSet()
_exit_hook_pids: set[int] = set()
_MAX_INLINE_DEPTH = 2


def drain_all_at_exit() -> None:
    """Close every live worker that asked for it, each within its own exit budget."""
    for worker in list(_live):
        if worker.flush_at_exit and not worker.closed:
            worker.close(worker.exit_budget_seconds, reason="interpreter exit")


def _install_exit_hook() -> None:
    """Register the exit drain once per process (multiprocessing children included).

    A duplicate registration after a race is harmless: the second drain finds
    every worker closed.
    """
    pid = os.getpid()
    if pid in _exit_hook_pids:
        return
    if not _exit_hook_pids:
        # Forked children inherit atexit registrations, so this happens once.
        atexit.register(drain_all_at_exit)
    _exit_hook_pids.add(pid)
    mp_util = sys.modules.get("multiprocessing.util")
    mp_process = sys.modules.get("multiprocessing.process")
    if mp_util is not None and mp_process is not None and mp_process.parent_process() is not None:
        # multiprocessing children leave through os._exit(), which skips atexit.
        mp_util.Finalize(None, drain_all_at_exit, exitpriority=10)


class Worker:
    """Buffers serialised items and sends them in batches from one daemon thread."""

    def __init__(
        self,
        *,
        sender: BatchSender,
        counters: Counters,
        max_queue_events: int,
        max_queue_bytes: int,
        drop_policy: DropPolicy,
        block_timeout_seconds: float,
        max_batch_events: int,
        max_batch_bytes: int,
        flush_interval_seconds: float,
        exit_budget_seconds: float,
        flush_at_exit: bool = True,
        on_error: ErrorCallback | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sender = sender
        self._counters = counters
        self._max_events = max_queue_events
        self._max_bytes = max_queue_bytes
        self._policy = drop_policy
        self._block_timeout = block_timeout_seconds
        self._max_batch_events = max_batch_events
        self._max_batch_bytes = max_batch_bytes
        self._interval = flush_interval_seconds
        self.exit_budget_seconds = exit_budget_seconds
        self.flush_at_exit = flush_at_exit
        self._on_error = on_error
        self._monotonic = monotonic
        self.closed = False
        self._local = threading.local()
        self._reset_state()
        _fork.track(self)
        _live.add(self)
        if flush_at_exit:
            _install_exit_hook()

    def _reset_state(self) -> None:
        self._pid = os.getpid()
        self._cond = threading.Condition(threading.Lock())
        self._start_lock = threading.Lock()
        self._stop = threading.Event()
        self._queue: deque[WireItem] = deque()
        self._queued_bytes = 0
        self._enqueued = 0
        self._finished = 0
        self._in_flight = 0
        self._abandoned = 0
        self._flush_target = 0
        self._blocked = 0
        self._oldest_at = 0.0
        self._thread: threading.Thread | None = None
        self._thread_ident: int | None = None
        self._thread_failed = False

    def _reset_after_fork(self) -> None:
        # The parent's buffer is the parent's to deliver: the child starts empty.
        old = self._cond
        self._reset_state()
        self._local = threading.local()
        # After a real fork the old sender thread does not exist here; when the new pid
        # was only noticed (no fork hooks ran) it may: wake it so it sees it is stale.
        if old.acquire(blocking=False):
            try:
                old.notify_all()
            finally:
                old.release()

    def _check_pid(self) -> None:
        if self._pid != os.getpid():
            self._reset_after_fork()

    def _sleep(self, seconds: float) -> bool:
        """The retry wait: ends early (False) when the worker is told to stop."""
        return not self._stop.wait(seconds)

    # -- the caller's side -------------------------------------------------------------

    def submit(self, item: WireItem) -> bool:
        """Queue ``item``; False when it was dropped (counted, and told to ``on_drop``)."""
        if self._pid != os.getpid():
            self._reset_after_fork()
        if self._thread is None and not self._thread_failed:
            self._start_thread()
        size = len(item.body)
        evicted = 0
        cond = self._cond
        with cond:
            if self.closed:
                reason: DropReason | None = DropReason.CLOSED
            else:
                queue = self._queue
                reason = None
                if len(queue) >= self._max_events or self._queued_bytes + size > self._max_bytes:
                    if self._policy == "oldest":
                        evicted = self._evict_for(size)
                    elif not (self._policy == "block" and self._wait_for_room(size)):
                        reason = DropReason.QUEUE_FULL
                if reason is None:
                    before = self._queued_bytes
                    if not queue:
                        self._oldest_at = self._monotonic()
                        cond.notify()
                    queue.append(item)
                    self._queued_bytes = before + size
                    self._enqueued += 1
                    if len(queue) == self._max_batch_events or (
                        before < self._max_batch_bytes <= before + size
                    ):
                        cond.notify()
        if evicted:
            self._counters.drop(DropReason.QUEUE_FULL, evicted, "the oldest events were evicted")
        if reason is not None:
            self._counters.drop(reason, 1)
            return False
        return True

    def _evict_for(self, size: int) -> int:
        """Under the lock: drop the oldest items until ``size`` more bytes fit."""
        queue = self._queue
        evicted = 0
        while queue and (
            len(queue) >= self._max_events or self._queued_bytes + size > self._max_bytes
        ):
            self._queued_bytes -= len(queue.popleft().body)
            evicted += 1
        self._finished += evicted
        self._cond.notify_all()
        return evicted

    def _wait_for_room(self, size: int) -> bool:
        """Under the lock: wait up to the block timeout for room; never on the worker
        thread or inside a running event loop, where waiting would stall the sender."""
        if threading.get_ident() == self._thread_ident or asyncio.events._get_running_loop():
            return False
        deadline = self._monotonic() + self._block_timeout
        self._blocked += 1
        try:
            while (
                len(self._queue) >= self._max_events or self._queued_bytes + size > self._max_bytes
            ):
                remaining = deadline - self._monotonic()
                if remaining <= 0 or self.closed:
                    return False
                self._cond.wait(remaining)
            return True
        finally:
            self._blocked -= 1

    def flush(self, timeout: float) -> bool:
        """Wait until every item queued before this call is sent or dropped; False on timeout.

        Safe from any thread; from a callback running on the worker thread it
        sends what is buffered itself instead of waiting for itself.
        """
        self._check_pid()
        deadline = self._monotonic() + max(timeout, 0.0)
        if threading.get_ident() == self._thread_ident:
            return self._drain_inline(deadline)
        with self._cond:
            target = self._enqueued
            if self._finished >= target:
                return True
            self._flush_target = max(self._flush_target, target)
            self._cond.notify_all()
            while self._finished < target:
                if self._stop.is_set():
                    return False
                if not self._thread_alive():
                    break
                remaining = deadline - self._monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            else:
                return True
        # No thread to wait for (it could not be started, e.g. at interpreter exit).
        return self._drain_inline(deadline)

    def close(self, timeout: float, *, reason: str = "close()") -> bool:
        """Flush for up to ``timeout``, stop the thread, count what is left as lost.

        True when nothing was lost. Idempotent; later submits are dropped as ``closed``.
        """
        self._check_pid()
        if self.closed:
            return True
        started = self._monotonic()
        flushed = self.flush(timeout)
        with self._cond:
            self.closed = True
            self._stop.set()
            leftover = len(self._queue)
            self._queue.clear()
            self._queued_bytes = 0
            self._finished += leftover
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread.ident != threading.get_ident():
            thread.join(max(timeout - (self._monotonic() - started), 0.0))
        with self._cond:
            alive = thread is not None and thread.is_alive()
            lost = leftover + self._abandoned + (self._in_flight if alive else 0)
            self._abandoned = 0
        if lost:
            self._counters.drop(DropReason.SHUTDOWN, lost, log=False)
            _logger.warning(
                "stats-client: %d events were not confirmed delivered at %s "
                "(buffer not drained within %.1f s)",
                lost,
                reason,
                timeout,
            )
        self._counters.report_unlogged()
        return flushed and lost == 0

    def kill(self) -> None:
        """Stop at once; whatever is buffered is counted as lost."""
        self.close(0.0, reason="kill()")

    def counters(self) -> DeliveryCounters:
        """The tallies, with this worker's queue depth and in-flight count."""
        self._check_pid()
        with self._cond:
            enqueued, depth, in_flight = self._enqueued, len(self._queue), self._in_flight
        return self._counters.snapshot(enqueued=enqueued, queue_depth=depth, in_flight=in_flight)

    # -- the sender's side ---------------------------------------------------------------

    def _thread_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _start_thread(self) -> None:
        with self._start_lock:
            if self._thread is not None or self._thread_failed or self.closed:
                return
            thread = threading.Thread(target=self._run, name="stats-client-worker", daemon=True)
            try:
                thread.start()
            except RuntimeError:
                # The interpreter is shutting down: the exit drain sends inline instead.
                self._thread_failed = True
                return
            self._thread = thread
            self._thread_ident = thread.ident
            _install_exit_hook()

    def _take_batch(self) -> list[WireItem]:
        """Under the lock: pop up to one batch (at least one item) and mark it in flight."""
        queue = self._queue
        batch: list[WireItem] = []
        size = 2
        taken_bytes = 0
        while queue and len(batch) < self._max_batch_events:
            body_size = len(queue[0].body)
            if batch and size + body_size + 1 > self._max_batch_bytes:
                break
            batch.append(queue.popleft())
            size += body_size + 1
            taken_bytes += body_size
        self._queued_bytes -= taken_bytes
        self._in_flight += len(batch)
        if queue:
            self._oldest_at = self._monotonic()
        if self._blocked:
            self._cond.notify_all()
        return batch

    def _next_batch(self, cond: threading.Condition) -> list[WireItem] | None:
        """Under ``cond``: wait until a batch is due (full, flushed or old enough).

        None means stop: the worker is closing, or this thread belongs to a
        state replaced after a fork (``cond`` is no longer the worker's).
        """
        while not self._stop.is_set() and cond is self._cond:
            if not self._queue:
                cond.wait()
                continue
            due = (
                len(self._queue) >= self._max_batch_events
                or self._queued_bytes >= self._max_batch_bytes
                or self._flush_target > self._finished
            )
            wait = 0.0 if due else self._oldest_at + self._interval - self._monotonic()
            if wait <= 0:
                return self._take_batch()
            cond.wait(wait)
        return None

    def _run(self) -> None:
        cond = self._cond
        self._thread_ident = threading.get_ident()
        try:
            while True:
                with cond:
                    batch = self._next_batch(cond)
                if batch is None:
                    return
                self._send(batch, cond)
        finally:
            # Ended by something other than close() (e.g. a callback raised SystemExit):
            # let the next submit() start a new thread.
            with cond:
                if not self._stop.is_set() and cond is self._cond:
                    self._thread = None
                    self._thread_ident = None

    def _send(self, batch: list[WireItem], cond: threading.Condition) -> None:
        try:
            outcome = self._sender.deliver(batch, sleep=self._sleep)
        except Exception:
            _logger.exception("stats-client: unexpected error while sending %d events", len(batch))
            self._counters.drop(DropReason.INTERNAL, len(batch))
            outcome = DeliveryOutcome()
        try:
            # Callbacks run before the batch counts as finished, so flush() returns after them.
            for error in outcome.errors:
                call_safely(self._on_error, error)
        finally:
            with cond:
                if cond is self._cond:  # else: replaced after a fork, these counts are stale
                    self._finished += len(batch) - len(outcome.unfinished)
                    self._abandoned += len(outcome.unfinished)
                    self._in_flight -= len(batch)
                    cond.notify_all()

    def _drain_inline(self, deadline: float) -> bool:
        """Send what is buffered on this thread until empty or ``deadline``."""
        depth = getattr(self._local, "depth", 0)
        if depth >= _MAX_INLINE_DEPTH:
            with self._cond:
                return not self._queue
        self._local.depth = depth + 1
        try:
            while True:
                with self._cond:
                    if not self._queue:
                        return True
                    if self._stop.is_set() or self._monotonic() >= deadline:
                        return False
                    batch = self._take_batch()
                try:
                    outcome = self._sender.deliver(batch, sleep=self._sleep, deadline=deadline)
                except Exception:
                    _logger.exception("stats-client: unexpected error while sending")
                    self._counters.drop(DropReason.INTERNAL, len(batch))
                    outcome = DeliveryOutcome()
                for error in outcome.errors:
                    call_safely(self._on_error, error)
                with self._cond:
                    # Unfinished items go back to the front, to be sent or counted later.
                    self._queue.extendleft(reversed(outcome.unfinished))
                    self._queued_bytes += sum(len(item.body) for item in outcome.unfinished)
                    self._finished += len(batch) - len(outcome.unfinished)
                    self._in_flight -= len(batch)
                    self._cond.notify_all()
                if outcome.unfinished:
                    return False
        finally:
            self._local.depth = depth
