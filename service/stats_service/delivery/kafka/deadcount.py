"""How many dead letters are not replayed yet: a count kept fresh in the background.

``OutboxStatus.dead_letters`` (``/ping``, ``outbox status``,
``stats_deadletters_pending``) is read at scrape time, without awaiting, so
in Kafka mode it cannot read the dead-letter topic then. Each process keeps
a :class:`DeadLetterCount` instead: a task that counts the letters
``deadletter list`` would show (a letter not followed by a tombstone of its
key, and holding an event) and caches the number.

It refreshes every ``interval_seconds``, and soon after this process
dead-letters or replays (:meth:`DeadLetterCount.poke`), at most once per
``min_gap_seconds``. A refresh first asks only for the topic's watermarks;
the topic is read again only when they moved since the last read (new
letters, tombstones, or records expired), so an idle topic costs one
metadata round trip per interval, whatever its size.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from stats_service.delivery.kafka.replay import DeadRecord, as_dead_letter, pending

__all__ = ["CountedTopic", "DeadLetterCount", "Watermarks", "count_pending"]

_log = logging.getLogger(__name__)

Watermarks = dict[int, tuple[int, int]]
"""``partition -> (low, high)`` offsets of the dead-letter topic."""


class CountedTopic(Protocol):
    """The dead-letter topic as the count reads it."""

    async def watermarks(self) -> Watermarks:
        """Every partition's low and high offsets now (empty: no such topic yet)."""
        ...

    async def scan(self) -> list[DeadRecord]:
        """Every record of the topic up to its end now."""
        ...


def count_pending(records: Sequence[DeadRecord]) -> int:
    """How many letters ``deadletter list`` shows for these records."""
    return sum(1 for record in pending(records) if as_dead_letter(record) is not None)


class DeadLetterCount:
    """The cached number of pending dead letters, refreshed by a task of its own."""

    def __init__(
        self,
        topic: CountedTopic,
        *,
        interval_seconds: float = 30.0,
        min_gap_seconds: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._topic = topic
        self._interval = interval_seconds
        self._min_gap = min(min_gap_seconds, interval_seconds)
        self._sleep = sleep
        self._value = 0
        self._read: Watermarks | None = None  # the watermarks when the topic was last read
        self._poked: asyncio.Event | None = None  # made on the loop that starts the count
        self._attempted: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def value(self) -> int:
        """The pending dead letters at the last successful refresh (0 before one)."""
        return self._value

    @property
    def known(self) -> bool:
        """Whether a refresh has succeeded yet."""
        return self._read is not None

    async def refresh(self) -> int:
        """Count again if the topic moved since it was last read; the count."""
        marks = await self._topic.watermarks()
        if marks == self._read:
            return self._value
        self._value = count_pending(await self._topic.scan()) if marks else 0
        self._read = marks
        return self._value

    def poke(self) -> None:
        """Refresh soon: this process has just dead-lettered or replayed."""
        if self._poked is not None:
            self._poked.set()

    def start(self) -> None:
        """Start refreshing (the first refresh at once)."""
        if self._task is None:
            self._poked, self._attempted = asyncio.Event(), asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="stats-kafka-dead-letter-count")

    async def stop(self) -> None:
        """Stop refreshing; the last count stays readable."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def first_attempt(self, timeout_seconds: float) -> None:
        """Wait (at most ``timeout_seconds``) until the first refresh has been tried."""
        attempted = self._attempted
        if self._task is None or attempted is None or attempted.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(attempted.wait(), timeout_seconds)

    async def _run(self) -> None:
        poked, attempted = self._poked, self._attempted
        if poked is None or attempted is None:
            return
        while True:
            poked.clear()
            try:
                await self.refresh()
            except Exception:  # noqa: BLE001 -- no brokers now: the last count stands
                _log.debug("counting the dead letters failed; trying again", exc_info=True)
            attempted.set()
            await self._sleep(self._min_gap)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(poked.wait(), self._interval - self._min_gap)
