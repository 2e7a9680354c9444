"""The live stream as a :class:`~stats_service.api.component.Component`."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

from fastapi import APIRouter

from stats_service.api.component import ComponentHealth
from stats_service.api.dependencies import Components
from stats_service.errors import ServiceUnavailable
from stats_service.settings import Settings
from stats_service.storage.log import LiveLog
from stats_service.stream.config import StreamConfig
from stats_service.stream.source import event_log_of
from stats_service.stream.sse import sse_router
from stats_service.stream.tailer import StreamMetrics, Tailer
from stats_service.stream.ws import ws_router

__all__ = ["StreamComponent", "build_stream"]


class _NoMetrics:
    def stream_clients(self, delta: int) -> None:
        """Ignored."""

    def stream_dropped(self, reason: str) -> None:
        """Ignored."""


class StreamComponent:
    """Serves ``/log/stream`` and ``/log/ws`` from one tailer of the durable log."""

    def __init__(self, config: StreamConfig) -> None:
        self._config = config
        self._tailer: Tailer | None = None
        self._live: LiveLog | None = None
        self._unsupported = ""
        self._previous_sigterm: Any = None

    @property
    def name(self) -> str:
        """``stream``."""
        return "stream"

    @property
    def tailer(self) -> Tailer:
        """The running tailer; 503 before start, after stop, or over a store with no log."""
        if self._tailer is None:
            raise ServiceUnavailable(self._unsupported or "the live stream is not running")
        return self._tailer

    def routers(self) -> Sequence[APIRouter]:
        """``GET /log/stream`` and ``GET /log/ws``."""

        def tailer_of() -> Tailer:
            return self.tailer

        return (
            sse_router(tailer_of, self._config.heartbeat_seconds),
            ws_router(tailer_of, self._config),
        )

    async def start(self, core: Components) -> None:
        """Follow the durable log of ``core.store`` (when it has one)."""
        log = event_log_of(core.store)
        if log is None:
            self._unsupported = "this store and queue cannot be followed live"
            return
        metrics: StreamMetrics = (
            core.metrics if isinstance(core.metrics, StreamMetrics) else _NoMetrics()
        )
        if isinstance(log, LiveLog):
            await log.start()
            self._live = log
        tailer = Tailer(log, self._config, metrics)
        await tailer.start()
        self._tailer = tailer
        self._end_streams_on_sigterm(asyncio.get_running_loop())

    def _end_streams_on_sigterm(self, loop: asyncio.AbstractEventLoop) -> None:
        # uvicorn waits for open connections before the lifespan ends, and streams
        # never end by themselves: on SIGTERM, end them (a ``shutdown`` message),
        # then let the server's own handler run.
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            loop.call_soon_threadsafe(self._end_streams)
            previous(signum, frame)

        self._previous_sigterm = previous
        signal.signal(signal.SIGTERM, handler)

    def _end_streams(self) -> None:
        if self._tailer is not None:
            self._tailer.end_all()

    async def stop(self) -> None:
        """End every stream and stop reading."""
        tailer, self._tailer = self._tailer, None
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None
        if tailer is not None:
            await tailer.stop()
        live, self._live = self._live, None
        if live is not None:
            await live.stop()

    async def health(self) -> ComponentHealth:
        """Healthy while the tailer reads (or when the store offers nothing to follow)."""
        if self._unsupported:
            return ComponentHealth(ok=True, detail=self._unsupported)
        if self._tailer is None or not self._tailer.running:
            return ComponentHealth(ok=False, detail="not running")
        if self._tailer.failing:
            return ComponentHealth(ok=False, detail="reading the durable log fails")
        if self._live is not None and self._live.failing:
            return ComponentHealth(ok=False, detail="reading the events topic fails")
        return ComponentHealth(ok=True, detail=f"{self._tailer.clients} clients")


def build_stream(settings: Settings) -> StreamComponent | None:
    """The stream component of ``settings`` (None when ``stream_enabled`` is off)."""
    return (
        StreamComponent(StreamConfig.from_settings(settings)) if settings.stream_enabled else None
    )
