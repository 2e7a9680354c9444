"""The forwarder: one asyncio task that drains the durable queue into the storage backend.

It reads the oldest pending entries in batches (``batch_max_events``, or
``batch_max_bytes``), lingering up to ``linger_seconds`` for a batch to fill,
hands each batch to the backend (:func:`~stats_service.delivery.sending.deliver`:
for InfluxDB the stored lines as they are, one gzip-compressed request; that
module says what each outcome of a write means and how a refused batch is
split), and settles the outcome in one queue transaction: delivered entries
are marked forwarded, refused ones dead-lettered. When the backend cannot take
a batch now, what is already known is settled, then the forwarder backs off
(capped, jittered, exponential, honouring ``Retry-After``) and tries the same
entries again. Nothing is dropped.

The loop overlaps its stages when a backlog exists: while one full batch is
being written, the next is read from the outbox and the previous one settled.
Order is kept (reads continue after the last ``seq`` handed out, and go back to
the oldest pending event whenever the pipeline drains, so replayed dead letters
are found).

Stopping finishes the batch in flight (bounded by a timeout), then ends; the
outbox keeps the rest. Clock, sleep and randomness are injected, so tests
never really wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random as random_module
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from stats_service.delivery.config import DeliveryConfig
from stats_service.delivery.queue import DurableQueue, OutboxEntry
from stats_service.delivery.sending import DeliveryBackend, RetryLater, Settlement, deliver
from stats_service.errors import ServiceUnavailable

__all__ = [
    "ForwardOutcome",
    "Forwarder",
    "ForwarderMetrics",
]

_log = logging.getLogger(__name__)


class ForwarderMetrics(Protocol):
    """Counters the forwarder reports to (``observability.recorder.Metrics`` provides them)."""

    def forwarded(self, count: int, seconds: float) -> None:
        """``count`` events reached the backend; writing them took ``seconds``."""

    def forward_error(self, kind: str) -> None:
        """A backend write failed: ``unavailable`` (retried) or ``rejected``."""

    def dead_lettered(self, count: int) -> None:
        """``count`` events were moved to the dead letters."""


class _NoMetrics:
    def forwarded(self, count: int, seconds: float) -> None:
        pass

    def forward_error(self, kind: str) -> None:
        pass

    def dead_lettered(self, count: int) -> None:
        pass


@dataclass(frozen=True, slots=True)
class ForwardOutcome:
    """What one call of :meth:`Forwarder.forward_batch` settled."""

    forwarded: int
    dead_lettered: int
    requests: int
    """Backend writes it took (more than one when a batch was split)."""


class Forwarder:
    """Drains one :class:`~stats_service.delivery.queue.DurableQueue` into one backend.

    ``start`` launches the task; ``notify`` tells it events were committed;
    ``stop`` ends it. :meth:`forward_batch` is one step of the loop, usable on
    its own (tests, a one-shot drain).
    """

    def __init__(
        self,
        outbox: DurableQueue,
        backend: DeliveryBackend,
        *,
        config: DeliveryConfig | None = None,
        backend_open: bool = True,
        metrics: ForwarderMetrics | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        random: Callable[[], float] = random_module.random,
    ) -> None:
        self._outbox = outbox
        self._backend = backend
        self._config = config or DeliveryConfig()
        self._backend_open = backend_open
        self._metrics: ForwarderMetrics = metrics or _NoMetrics()
        self._monotonic = monotonic
        self._sleep = sleep
        self._random = random
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._pending_hint = 0
        self._prefetch: asyncio.Future[list[OutboxEntry]] | None = None
        self._settling: asyncio.Future[None] | None = None
        self._cursor = 0
        self._attempt = 0
        self._backend_ok: bool | None = None
        self._last_error: str | None = None
        self._next_retry_seconds = 0.0

    @property
    def config(self) -> DeliveryConfig:
        """The configuration in use."""
        return self._config

    @property
    def running(self) -> bool:
        """Whether the task runs."""
        return self._task is not None and not self._task.done()

    @property
    def retrying(self) -> bool:
        """Whether the last attempt failed and the forwarder is backing off."""
        return self._attempt > 0

    @property
    def backend_ok(self) -> bool | None:
        """Whether the last backend write got an answer; None before the first."""
        return self._backend_ok

    @property
    def last_error(self) -> str | None:
        """The error of the last failed attempt; None once an attempt succeeds."""
        return self._last_error

    @property
    def next_retry_seconds(self) -> float:
        """The wait chosen after the last failure (0 when not retrying)."""
        return self._next_retry_seconds if self._attempt else 0.0

    def start(self, pending_events: int = 0) -> None:
        """Start the task (call from a running loop); ``pending_events`` is the backlog."""
        if self.running:
            return
        self._pending_hint = pending_events
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="stats-forwarder")

    def notify(self, pending_events: int) -> None:
        """Events were committed; ``pending_events`` is the backlog after that commit."""
        self._pending_hint = pending_events
        self._wake.set()

    async def stop(self) -> bool:
        """Finish the batch in flight (within the stop timeout), then end the task.

        Returns False if the batch had to be abandoned mid-flight; its events
        stay pending and are sent again later (a repeated point is harmless).
        """
        task, self._task = self._task, None
        self._stopping.set()
        if task is None:
            return True
        try:
            await asyncio.wait_for(asyncio.shield(task), self._config.close_timeout_seconds)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            _log.warning("the forwarder stopped in the middle of a batch; it stays pending")
            return False
        return True

    # -- one step ------------------------------------------------------------

    async def forward_batch(self) -> ForwardOutcome | None:
        """Read the oldest pending batch, write it, settle it; None when nothing is pending.

        Raises ``ServiceUnavailable`` when the backend cannot take it now, after
        settling whatever part of the batch is already known.
        """
        try:
            return await self._forward_batch()
        except RetryLater as exc:
            retry_after = max(1, round(exc.retry_after_seconds or 1))
            raise ServiceUnavailable(exc.message, retry_after_seconds=retry_after) from None

    async def _forward_batch(self, *, pipelined: bool = False) -> ForwardOutcome | None:
        """One batch. ``pipelined`` (the loop): the next full batch is read while this
        one is written, and this one is settled while the next is written.

        ``_cursor`` is the last ``seq`` handed to the backend whose settlement may
        not have landed yet; reads start after it. It goes back to 0 whenever the
        pipeline is drained, so events made pending again (replays) are found.
        """
        config = self._config
        self._wake.clear()  # what is committed from now on is news to the loop
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None:
            entries = await prefetch
        else:
            entries = await self._outbox.next_batch(
                config.batch_max_events, config.batch_max_bytes, after_seq=self._cursor
            )
        if not entries:
            await self._settled()
            if self._cursor:
                self._cursor = 0
                return await self._forward_batch(pipelined=pipelined)
            return None
        if pipelined and len(entries) >= config.batch_max_events:
            self._prefetch = asyncio.ensure_future(
                self._outbox.next_batch(
                    config.batch_max_events, config.batch_max_bytes, after_seq=entries[-1].seq
                )
            )
        settlement = Settlement()
        started = self._monotonic()
        try:
            if not self._backend_open:
                await self._open_backend()
            await self._deliver(entries, settlement)
        except RetryLater:
            self._metrics.forward_error("unavailable")
            await self._drain_pipeline()
            await self._settle(settlement)
            self._backend_ok = False
            raise
        self._backend_ok = True
        settlement.seconds = self._monotonic() - started
        await self._settled()
        if pipelined:
            self._cursor = entries[-1].seq
            self._settling = asyncio.ensure_future(self._settle(settlement))
        else:
            await self._settle(settlement)
        return ForwardOutcome(
            forwarded=len(settlement.forwarded),
            dead_lettered=len(settlement.rejected),
            requests=settlement.requests,
        )

    async def _settled(self) -> None:
        """Wait for the settlement in the background, if any (its errors propagate)."""
        settling, self._settling = self._settling, None
        if settling is not None:
            await settling

    async def _drain_pipeline(self) -> None:
        """Drop the read-ahead batch, let the settlement in the background land, restart
        reading from the oldest pending event. A failed settlement only means its
        events stay pending and are sent again (a repeated point is harmless)."""
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None:
            prefetch.cancel()
            await asyncio.gather(prefetch, return_exceptions=True)
        try:
            await self._settled()
        except Exception:  # noqa: BLE001 -- the events stay pending; logged
            _log.warning("settling a delivered batch failed; it will be sent again", exc_info=True)
        self._cursor = 0

    async def _open_backend(self) -> None:
        try:
            await self._backend.open()
        except ServiceUnavailable as exc:
            raise RetryLater(exc.message, exc.retry_after_seconds) from None
        except Exception as exc:  # noqa: BLE001 -- logged; the forwarder retries later
            _log.exception("opening the backend failed")
            raise RetryLater(f"{type(exc).__name__}: {exc}", None) from None
        self._backend_open = True

    async def _settle(self, settlement: Settlement) -> None:
        if settlement.forwarded or settlement.rejected:
            self._pending_hint = await self._outbox.settle(
                settlement.forwarded, settlement.rejected
            )
            if settlement.forwarded:
                self._metrics.forwarded(len(settlement.forwarded), settlement.seconds)
            if settlement.rejected:
                self._metrics.dead_lettered(len(settlement.rejected))
            for rejection in settlement.rejected:
                _log.warning(
                    "dead-lettered event %s: %s", rejection.entry.event_id, rejection.reason
                )

    async def _deliver(self, entries: Sequence[OutboxEntry], settlement: Settlement) -> None:
        await deliver(self._backend, entries, settlement, self._metrics)

    # -- the loop ------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._loop()
        finally:
            await self._drain_pipeline()

    async def _loop(self) -> None:
        config = self._config
        next_prune = self._monotonic()
        while not self._stopping.is_set():
            if self._monotonic() >= next_prune:
                await self._prune()
                next_prune = self._monotonic() + config.prune_interval_seconds
            if self._prefetch is None:
                await self._linger()
            if self._stopping.is_set():
                return
            try:
                outcome = await self._forward_batch(pipelined=True)
            except (RetryLater, ServiceUnavailable) as exc:
                await self._drain_pipeline()
                await self._back_off(exc.message, exc.retry_after_seconds)
                continue
            except Exception as exc:  # noqa: BLE001 -- the outbox failed (disk): logged, retried
                _log.exception("the forwarder could not read or settle the outbox")
                await self._drain_pipeline()
                await self._back_off(f"outbox: {type(exc).__name__}: {exc}", None)
                continue
            if self._attempt:
                _log.info("delivery resumed after %d failed attempts", self._attempt)
            self._attempt = 0
            self._last_error = None
            if outcome is None and not self._wake.is_set():
                await self._wait(config.poll_interval_seconds, wake=True)

    async def _linger(self) -> None:
        """Wait, up to the linger time, until a full batch is pending (or stop)."""
        config = self._config
        if self._pending_hint >= config.batch_max_events or config.linger_seconds <= 0:
            return
        deadline = self._monotonic() + config.linger_seconds
        while not self._stopping.is_set() and self._pending_hint < config.batch_max_events:
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                return
            self._wake.clear()
            await self._wait(remaining, wake=True)

    async def _back_off(self, message: str, retry_after_seconds: float | None) -> None:
        self._backend_ok = False
        self._attempt += 1
        self._last_error = message
        delay = self._config.backoff.delay(
            self._attempt, random=self._random, retry_after_seconds=retry_after_seconds
        )
        self._next_retry_seconds = delay
        log = _log.warning if self._attempt == 1 else _log.debug
        log("delivery failed (attempt %d), retrying in %.2f s: %s", self._attempt, delay, message)
        try:
            await self._outbox.record_error(message)
        except Exception:  # noqa: BLE001 -- the status is best effort; delivery goes on
            _log.debug("could not record the delivery error in the outbox", exc_info=True)
        await self._wait(delay, wake=False)

    async def _prune(self) -> None:
        try:
            deleted = await self._outbox.prune()
        except Exception:  # noqa: BLE001 -- pruning is housekeeping; try again next time
            _log.warning("pruning the outbox failed", exc_info=True)
            return
        if deleted:
            _log.debug("pruned %d forwarded outbox rows", deleted)

    async def _wait(self, seconds: float, *, wake: bool) -> None:
        """Sleep ``seconds``; return early on stop (and on ``notify`` if ``wake``)."""
        waiters = [
            asyncio.ensure_future(self._sleep(seconds)),
            asyncio.ensure_future(self._stopping.wait()),
        ]
        if wake:
            waiters.append(asyncio.ensure_future(self._wake.wait()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
