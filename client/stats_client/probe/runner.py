"""The probe at work: a schedule of posts, a stream listener, a ticker, one tracker.

Posts run on a small thread pool, so a slow or failing service never delays
the schedule; the listener and the ticker run on their own threads. The
tracker is guarded by one lock; every time is read from the injected
``monotonic`` clock, the send time in an event from ``wall``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from stats_client.analytics import Analytics
from stats_client.exceptions import (
    DeliveryTimeoutError,
    EventRejectedError,
    ServiceError,
    StatsClientError,
    TransportError,
)
from stats_client.probe.config import ProbeConfig
from stats_client.probe.listener import Backoff, StreamListener
from stats_client.probe.metrics import ProbeMetrics
from stats_client.probe.tracker import Arrival, Tracker

__all__ = ["WINDOWS_SECONDS", "Probe", "post_error_reason"]

WINDOWS_SECONDS = {"1m": 60.0, "3m": 180.0, "10m": 600.0}
_UNAVAILABLE = 500


def post_error_reason(exc: BaseException) -> str:
    """The ``reason`` label of a failed post."""
    if isinstance(exc, DeliveryTimeoutError):
        return "timeout"
    if isinstance(exc, TransportError):
        return "connection"
    if isinstance(exc, ServiceError):
        return "unavailable" if exc.status >= _UNAVAILABLE or exc.status == 429 else "rejected"
    if isinstance(exc, EventRejectedError):
        return "rejected"
    return "other"


class Probe:
    """One probe run against one service."""

    def __init__(
        self,
        config: ProbeConfig,
        metrics: ProbeMetrics,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        probe_id: str | None = None,
        windows_seconds: dict[str, float] | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.probe_id = probe_id or uuid.uuid4().hex[:16]
        self._monotonic, self._wall = monotonic, wall
        self.tracker = Tracker(
            self.probe_id,
            windows_seconds or WINDOWS_SECONDS,
            mark_lost_after_seconds=config.mark_lost_after_seconds,
            purge_after_seconds=config.purge_after_seconds,
        )
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self._seq = 0
        self._next_id = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="probe-post")
        self._analytics = Analytics(
            url=config.url,
            access_token=config.token,
            defer=False,
            strict=True,
            max_retries=config.post_retries,
            sync_timeout_seconds=config.post_timeout_seconds,
            retry_initial_backoff_seconds=0.05,
            retry_max_backoff_seconds=1.0,
            id_factory=self._id,
            flush_at_exit=False,
        )
        self._fetcher = httpx.Client(
            base_url=config.url,
            headers={"Authorization": f"Token {config.token}"},
            timeout=config.post_timeout_seconds,
        )
        self.listener = StreamListener(
            url=config.listen_url,
            token=config.token,
            params={"uid": self.probe_id, "event": config.event},
            on_event=self.on_stream_event,
            on_state=lambda up: metrics.up.set(1 if up else 0),
            backoff=Backoff(max_seconds=config.reconnect_max_seconds),
            stop=self.stop_event,
        )
        self._threads: list[threading.Thread] = []

    def _id(self) -> str:
        event_id: str = self._next_id.value
        return event_id

    # -- the three loops -----------------------------------------------------------------

    def start(self) -> None:
        """Start listening, posting and ticking, each on its own thread."""
        for name, target in (
            ("probe-listen", self.listener.run),
            ("probe-schedule", self._schedule),
            ("probe-tick", self._ticks),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_seconds: float = 5.0) -> None:
        """Stop every loop and release the clients."""
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout_seconds)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.listener.close()
        self._fetcher.close()
        self._analytics.close(0.1)

    def _schedule(self) -> None:
        next_at = self._monotonic()
        while not self.stop_event.is_set():
            self.send_one()
            next_at += self.config.interval_seconds
            self.stop_event.wait(max(0.0, next_at - self._monotonic()))

    def _ticks(self) -> None:
        while not self.stop_event.wait(self.config.tick_seconds):
            self.tick()

    # -- the steps (tests call these directly) --------------------------------------------

    def send_one(self) -> str:
        """Schedule one probe event now; posting happens on the pool."""
        event_id = f"probe-{self.probe_id}-{self._seq}"
        with self.lock:
            self.tracker.due(event_id, self._seq, self._monotonic())
        data = {
            "event": self.config.event,
            "uid": self.probe_id,
            "probe_id": self.probe_id,
            "seq": self._seq,
            "sent_at": self._wall(),
        }
        self._seq += 1
        self._pool.submit(self._post, event_id, data)
        return event_id

    def _post(self, event_id: str, data: dict[str, Any]) -> None:
        self._next_id.value = event_id
        try:
            self._analytics.log(data)
        except StatsClientError as exc:
            self.metrics.post_errors.labels(post_error_reason(exc)).inc()
            with self.lock:
                self.tracker.post_failed(event_id)
            return
        with self.lock:
            self.tracker.posted(event_id)

    def on_stream_event(self, event: dict[str, Any]) -> None:
        """One event from the stream."""
        self._arrived(event, by_fetch=False)

    def _arrived(self, event: dict[str, Any], *, by_fetch: bool) -> None:
        event_id = event.get("event_id")
        probe_id = event.get("probe_id")
        if not isinstance(event_id, str):
            return
        with self.lock:
            arrival, sent = self.tracker.arrived(
                event_id,
                probe_id if isinstance(probe_id, str) else None,
                self._monotonic(),
                by_fetch=by_fetch,
            )
        if arrival is Arrival.FIRST and sent is not None and not by_fetch:
            latency = sent.latency_seconds
            if latency is not None:
                self.metrics.latency.observe(max(latency, 0.0))
        if arrival in (Arrival.FIRST, Arrival.LATE):
            self.metrics.last_received.set(self._wall())

    def tick(self) -> None:
        """Confirm overdue events by fetch, mark losses, refresh the metrics."""
        now = self._monotonic()
        with self.lock:
            overdue = [
                s.event_id for s in self.tracker.unconfirmed(now, self.config.confirm_after_seconds)
            ]
        for event_id in overdue:
            if self.stop_event.is_set():
                break
            self._confirm(event_id)
        with self.lock:
            self.tracker.tick(self._monotonic())
            self.metrics.update(self.tracker)

    def _confirm(self, event_id: str) -> None:
        try:
            reply = self._fetcher.get(f"/log/event/{event_id}")
        except httpx.HTTPError:
            return
        if reply.status_code == httpx.codes.OK:
            self._arrived(reply.json(), by_fetch=True)
