"""Follows the durable log and hands new entries to every subscription of this process.

One task per worker process reads ``read_after(position)`` every
``poll_interval_seconds`` (at once again after a full page). The log numbers
entries in commit order, so a position cursor misses nothing and repeats
nothing, whichever worker or replica accepted an event; no overlap is needed.
A log that restarted its numbering (an outbox pruned empty) is followed from
its new head.

Resuming: :meth:`Tailer.resume_from` turns the id a client last saw into a
position (410 when it is no longer kept or more than ``replay_max_events``
back); :meth:`Tailer.replay` reads from there up to where the client joined
live, so the two parts meet without a gap or an overlap. Over a
:class:`~stats_service.storage.log.ResumableLog` (positions local to this
process) the resume point comes from the log's cursor, and the entries the
client already saw elsewhere are skipped, in the replay and live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from stats_service.errors import Gone, ServiceUnavailable, TooManyRequests
from stats_service.storage.log import EventLog, LogEntry, ResumableLog, ResumePoint
from stats_service.stream.config import StreamConfig
from stats_service.stream.filters import StreamFilter
from stats_service.stream.frames import event_json
from stats_service.stream.subscription import Ended, Ready, Subscription

__all__ = ["StreamMetrics", "Tailer"]

_log = logging.getLogger(__name__)
_HEAD_CHECK_POLLS = 50  # empty polls between checks that the log did not restart


@runtime_checkable
class StreamMetrics(Protocol):
    """What the stream counts (``Metrics`` implements it)."""

    def stream_clients(self, delta: int) -> None:
        """Clients came (``delta`` > 0) or went."""
        ...

    def stream_dropped(self, reason: str) -> None:
        """A stream was ended for ``reason``."""
        ...


class Tailer:
    """The process's one reader of the durable log, and its subscriptions."""

    def __init__(self, log: EventLog, config: StreamConfig, metrics: StreamMetrics) -> None:
        self._log = log
        self._config = config
        self._metrics = metrics
        self._subscriptions: set[Subscription] = set()
        self._per_identity: Counter[str] = Counter()
        self._position = 0
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self._closing = False

    @property
    def position(self) -> int:
        """The newest log position handed out."""
        return self._position

    @property
    def clients(self) -> int:
        """Subscriptions open now."""
        return len(self._subscriptions)

    @property
    def running(self) -> bool:
        """Whether the reading task runs."""
        return self._task is not None and not self._task.done()

    @property
    def failing(self) -> bool:
        """Whether the last read of the log failed."""
        return self._failing

    async def start(self) -> None:
        """Start following the log from its current head."""
        self._position = await self._log.head()
        self._task = asyncio.create_task(self._run(), name="stream-tailer")

    async def stop(self) -> None:
        """Stop reading and end every subscription (``shutdown``)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for subscription in list(self._subscriptions):
            self._drop(subscription, Ended("shutdown", "the service is stopping"))

    def end_all(self) -> None:
        """End every subscription (``shutdown``) and refuse new ones; reading goes on."""
        self._closing = True
        for subscription in list(self._subscriptions):
            self._drop(subscription, Ended("shutdown", "the service is stopping"))

    def subscribe(self, identity: str, stream_filter: StreamFilter) -> Subscription:
        """A new subscription, live from the current position; 429 over the per-identity limit."""
        if self._closing:
            raise ServiceUnavailable("the service is stopping")
        if self._per_identity[identity] >= self._config.max_per_identity:
            raise TooManyRequests(
                f"at most {self._config.max_per_identity} concurrent streams per identity"
            )
        subscription = Subscription(identity, stream_filter, capacity=self._config.buffer_events)
        subscription.opened_at = self._position
        self._subscriptions.add(subscription)
        self._per_identity[identity] += 1
        self._metrics.stream_clients(1)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget ``subscription`` (its client went, or its stream ended); idempotent."""
        if subscription in self._subscriptions:
            self._subscriptions.discard(subscription)
            self._per_identity[subscription.identity] -= 1
            if self._per_identity[subscription.identity] <= 0:
                del self._per_identity[subscription.identity]
            self._metrics.stream_clients(-1)

    async def resume_from(
        self, last_event_id: str, subscription: Subscription | None = None
    ) -> int:
        """The position just after ``last_event_id``; :class:`Gone` (410) when that is not
        kept or lies more than ``replay_max_events`` behind. Over a resumable log,
        ``subscription`` is told which later entries it already has."""
        point = await self._resume_point(last_event_id)
        position = None if point is None else point.position
        if point is not None and point.seen is not None and subscription is not None:
            subscription.skip_seen(point.seen)
        if position is None:
            raise Gone(
                "this resume point is not kept (unknown id, or older than the retention); "
                "reconnect without it",
                details={"last_event_id": last_event_id},
            )
        behind = self._position - position
        if behind > self._config.replay_max_events:
            raise Gone(
                f"this resume point is {behind} events back, more than the "
                f"{self._config.replay_max_events} kept for resuming",
                details={"last_event_id": last_event_id},
            )
        return position

    async def _resume_point(self, last_event_id: str) -> ResumePoint | None:
        if isinstance(self._log, ResumableLog):
            return await self._log.resume_point(last_event_id)
        position = await self._log.position_of(last_event_id)
        return None if position is None else ResumePoint(position)

    async def replay(self, subscription: Subscription, start: int) -> AsyncIterator[LogEntry]:
        """The entries after ``start`` up to where ``subscription`` joined live, filtered."""
        position, stop = start, subscription.opened_at
        while position < stop:
            page = await self._log.read_after(position, self._config.read_batch_events)
            if not page:
                return
            for entry in page:
                if entry.seq > stop:
                    return
                position = entry.seq
                if subscription.wants(entry):
                    yield entry

    async def _run(self) -> None:
        empty_polls = 0
        while True:
            if not self._subscriptions:
                await self._skip_to_head()
                continue
            try:
                page = await self._log.read_after(self._position, self._config.read_batch_events)
                if not page:
                    empty_polls += 1
                    if empty_polls >= _HEAD_CHECK_POLLS:
                        empty_polls = 0
                        await self._check_restart()
                self._failing = False
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 -- a failing log is retried, never fatal
                if not self._failing:
                    _log.exception("reading the durable log for the stream failed; retrying")
                self._failing = True
                await asyncio.sleep(max(self._config.poll_interval_seconds, 0.5))
                continue
            if page:
                empty_polls = 0
                self._dispatch(page)
            if len(page) < self._config.read_batch_events:
                await asyncio.sleep(self._config.poll_interval_seconds)

    async def _skip_to_head(self) -> None:
        """With nobody subscribed, follow the log's head instead of reading its entries.

        Nothing would receive them, and decoding every accepted event costs
        the ingest path CPU. A subscription made while the head is read opens
        at the old position, so the position moves only if there is still none.
        """
        try:
            head = await self._log.head()
            self._failing = False
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 -- a failing log is retried, never fatal
            if not self._failing:
                _log.exception("reading the durable log for the stream failed; retrying")
            self._failing = True
            await asyncio.sleep(max(self._config.poll_interval_seconds, 0.5))
            return
        if not self._subscriptions:
            self._position = head
        await asyncio.sleep(self._config.poll_interval_seconds)

    async def _check_restart(self) -> None:
        head = await self._log.head()
        if head < self._position:
            _log.warning(
                "the durable log restarted at %d (was %d); following it", head, self._position
            )
            self._position = head

    def _dispatch(self, page: list[LogEntry]) -> None:
        for entry in page:
            self._position = entry.seq
            ready: Ready | None = None
            for subscription in list(self._subscriptions):
                if not subscription.wants(entry):
                    continue
                if ready is None and entry.event is not None:
                    ready = Ready(entry.event_id, event_json(entry.event), entry.seq, entry.cursor)
                if ready is not None and not subscription.push(ready):
                    self._drop(
                        subscription,
                        Ended(
                            "slow_consumer",
                            f"the client fell more than {self._config.buffer_events} events behind",
                        ),
                    )

    def _drop(self, subscription: Subscription, ended: Ended) -> None:
        if subscription.ended is None:
            subscription.end(ended)
            self._metrics.stream_dropped(ended.reason)
        self.unsubscribe(subscription)
