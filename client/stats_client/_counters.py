"""Tallies what became of events, and tells the user's callbacks about losses and errors.

Every lost event is counted under one :class:`DropReason`; losses reach the
``on_drop`` callback at once and the ``stats_client`` logger at most once per
``log_interval_seconds``: each warning gives the drops since the previous one
and the total, and ``close()`` reports any no warning has told of yet.
Callback failures are logged and never propagate.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
import time
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stats_client import _fork

__all__ = ["Counters", "DeliveryCounters", "DropReason", "call_safely"]

_logger = logging.getLogger("stats_client")


class DropReason(enum.StrEnum):
    """Why events were lost; the keys of ``DeliveryCounters.dropped``."""

    QUEUE_FULL = "queue_full"
    """The buffer was full (by count or bytes) under the configured drop policy."""
    INVALID = "invalid"
    """The event broke the wire rules and was never queued."""
    CLOSED = "closed"
    """``log()`` after ``close()``."""
    REJECTED = "rejected"
    """The service stored the batch but refused this item (listed in ``rejected``)."""
    HTTP_ERROR = "http_error"
    """The batch got a status that is never retried (400, 401, 403, 415, 422, 501, ...)."""
    TOO_LARGE = "too_large"
    """413 for a single event, which cannot be split further."""
    RETRIES_EXHAUSTED = "retries_exhausted"
    """``max_retries`` retries all failed."""
    TIMEOUT = "timeout"
    """A synchronous send (``defer=False``) ran past ``sync_timeout_seconds``."""
    SHUTDOWN = "shutdown"
    """Still buffered or unconfirmed when ``close()`` or interpreter exit gave up."""
    INTERNAL = "internal"
    """A bug in the client while sending; logged with its traceback."""


@dataclass(frozen=True, slots=True)
class DeliveryCounters:
    """A snapshot of the client's tallies since it was created (or since a fork)."""

    enqueued: int
    """Events accepted by ``log()`` / ``log_points()`` for delivery."""
    sent: int
    """Events the service confirmed as stored."""
    retried: int
    """Requests sent again after a retryable failure."""
    dropped: Mapping[str, int]
    """Lost events by :class:`DropReason` value."""
    queue_depth: int
    """Events waiting in the buffer now."""
    in_flight: int
    """Events in the request being sent now."""

    @property
    def dropped_total(self) -> int:
        """All lost events, whatever the reason."""
        return sum(self.dropped.values())


_failed_callbacks: set[Callable[..., Any]] = set()
_FAILED_CALLBACKS_MAX = 64


def call_safely(callback: Callable[..., Any] | None, *args: Any) -> None:
    """Call a user callback; log (once per callback) and swallow whatever it raises."""
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:
        try:
            first = callback not in _failed_callbacks
        except TypeError:  # an unhashable callable object
            first = True
        if first:
            if len(_failed_callbacks) < _FAILED_CALLBACKS_MAX:
                with contextlib.suppress(TypeError):
                    _failed_callbacks.add(callback)
            _logger.exception(
                "stats-client: callback %r raised; its later failures are not logged", callback
            )


def _by_reason(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {why}" for why, n in sorted(counts.items()))


def _warn(since: Mapping[str, int], total: Mapping[str, int], detail: str) -> None:
    _logger.warning(
        "stats-client dropped %d event(s) since the last warning (%s); %d in total (%s)%s",
        sum(since.values()),
        _by_reason(since),
        sum(total.values()),
        _by_reason(total),
        f": {detail}" if detail else "",
    )


class Counters:
    """Thread-safe tallies of sent, retried and dropped events."""

    def __init__(
        self,
        *,
        on_drop: Callable[[str, int], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        log_interval_seconds: float = 60.0,
    ) -> None:
        self._on_drop = on_drop
        self._monotonic = monotonic
        self._log_interval = log_interval_seconds
        self._lock = threading.Lock()
        self._enqueued = 0
        self._sent = 0
        self._retried = 0
        self._dropped: dict[str, int] = {}
        self._unlogged: dict[str, int] = {}
        self._last_log: float | None = None
        _fork.track(self)

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._enqueued = self._sent = self._retried = 0
        self._dropped = {}
        self._unlogged = {}
        self._last_log = None

    def add_enqueued(self, count: int) -> None:
        """Count events handed to a synchronous send (the worker counts its own)."""
        with self._lock:
            self._enqueued += count

    def add_sent(self, count: int) -> None:
        """Count events the service confirmed."""
        with self._lock:
            self._sent += count

    def add_retried(self, count: int = 1) -> None:
        """Count requests sent again."""
        with self._lock:
            self._retried += count

    def drop(self, reason: DropReason, count: int, detail: str = "", *, log: bool = True) -> None:
        """Count ``count`` lost events, tell ``on_drop``, and log at most once an interval.

        ``log=False`` leaves the logging to the caller (e.g. one warning at shutdown).
        """
        if count <= 0:
            return
        now = self._monotonic()
        report: tuple[dict[str, int], dict[str, int]] | None = None
        with self._lock:
            self._dropped[reason.value] = self._dropped.get(reason.value, 0) + count
            if log:
                self._unlogged[reason.value] = self._unlogged.get(reason.value, 0) + count
                if self._last_log is None or now - self._last_log >= self._log_interval:
                    report = self._take_unlogged(now)
        if report is not None:
            _warn(*report, detail)
        call_safely(self._on_drop, reason.value, count)

    def report_unlogged(self) -> None:
        """Log the drops no warning has told of yet, if any (``close()`` calls it)."""
        with self._lock:
            report = self._take_unlogged(self._monotonic()) if self._unlogged else None
        if report is not None:
            _warn(*report, "")

    def _take_unlogged(self, now: float) -> tuple[dict[str, int], dict[str, int]]:
        """(drops since the last warning, all drops) by reason; the caller holds the lock."""
        since, self._unlogged = self._unlogged, {}
        self._last_log = now
        return since, dict(self._dropped)

    def snapshot(self, *, enqueued: int, queue_depth: int, in_flight: int) -> DeliveryCounters:
        """The tallies now; ``enqueued`` adds the worker's own count."""
        with self._lock:
            return DeliveryCounters(
                enqueued=self._enqueued + enqueued,
                sent=self._sent,
                retried=self._retried,
                dropped=types.MappingProxyType(dict(self._dropped)),
                queue_depth=queue_depth,
                in_flight=in_flight,
            )
