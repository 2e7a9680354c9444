"""One collector process: sources, snapshot, self-metrics, state, ``/metrics`` and events.

:class:`CollectorApp` is the single entry point: build it from a config,
then ``start()`` (serves ``/metrics``, polls in the background) and
``stop()``, or ``run_once()`` for ``--once``. Everything it talks to
(upstream HTTP, the event sink, the state store, the clocks) can be passed
in, so tests run it whole against in-memory parts.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.exposition import generate_latest

from stats_client.collect.config import CollectConfig
from stats_client.collect.delta import DeltaTracker
from stats_client.collect.errors import ConfigError
from stats_client.collect.events import AnalyticsSink, EventSink
from stats_client.collect.http import Fetcher, HttpxFetcher
from stats_client.collect.registry import SourceRegistry
from stats_client.collect.runner import PollOutcome, Runner
from stats_client.collect.selfmetrics import SelfMetrics
from stats_client.collect.snapshot import SnapshotCollector, SnapshotStore
from stats_client.collect.sources import build_sources
from stats_client.collect.state import FileStateStore, MemoryStateStore, StateStore
from stats_client.collect.windows import WindowBook

__all__ = ["CollectorApp", "Parts"]

logger = logging.getLogger("stats_client.collect")


@dataclass
class Parts:
    """What the app would otherwise make itself; any may be given (tests, dry runs)."""

    fetcher: Fetcher | None = None
    sink: EventSink | None = None
    state: StateStore | None = None
    registry: SourceRegistry | None = None
    selected: Sequence[str] = field(default_factory=tuple)


def analytics_sink(config: CollectConfig) -> AnalyticsSink:
    """Events through the SDK to the configured stats-service."""
    return AnalyticsSink(
        url=config.events_url,
        access_token=config.events_access_token,
        flush_interval_seconds=0.5,
        shutdown_timeout_seconds=5.0,
    )


class CollectorApp:
    """A whole collector process, started and stopped as one component."""

    def __init__(self, config: CollectConfig, parts: Parts | None = None) -> None:
        parts = parts or Parts()
        if config.events_enabled and parts.sink is None and not config.events_access_token:
            raise ConfigError(
                "is required when events are enabled (a token with the write scope)",
                key="events.access_token",
            )
        self.config = config
        self._owns_fetcher = parts.fetcher is None
        self.fetcher: Fetcher = parts.fetcher or HttpxFetcher()
        try:
            sources = build_sources(
                config, fetcher=self.fetcher, selected=parts.selected, registry=parts.registry
            )
            state = parts.state
            if state is None:
                state = (
                    MemoryStateStore()
                    if config.state_file is None
                    else FileStateStore(config.state_file)
                )
            deltas = DeltaTracker(state)
        except BaseException:
            self._close_fetcher()
            raise
        self.registry = CollectorRegistry(auto_describe=False)
        self.snapshot = SnapshotStore()
        self.registry.register(SnapshotCollector(self.snapshot))
        self.self_metrics = SelfMetrics(self.registry)
        self.sink = parts.sink
        if self.sink is None and config.events_enabled:
            self.sink = analytics_sink(config)
        self.runner = Runner(
            sources,
            snapshot=self.snapshot,
            self_metrics=self.self_metrics,
            deltas=deltas,
            windows=WindowBook(
                deltas.state,
                cap=dt.timedelta(days=config.max_window_days),
                lock=deltas.lock,
            ),
            sink=self.sink,
            max_backoff_seconds=config.max_backoff_seconds,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: WSGIServer | None = None
        self.port: int | None = None

    def run_once(self) -> list[PollOutcome]:
        """Poll every source once; events are flushed before returning."""
        outcomes = self.runner.poll_all()
        if self.sink is not None and not self.sink.flush(10.0):
            logger.warning("not every event reached stats-service within 10 s")
        return outcomes

    def exposition(self) -> bytes:
        """What ``/metrics`` answers right now (Prometheus text format)."""
        return generate_latest(self.registry)

    def start(self) -> None:
        """Serve ``/metrics`` (when enabled) and start polling in the background."""
        if self.config.prometheus_enabled:
            server, _ = start_http_server(
                self.config.prometheus_port, self.config.prometheus_host, self.registry
            )
            self._server = server
            self.port = int(server.server_address[1])
            logger.info("serving /metrics on http://%s:%d", self.config.prometheus_host, self.port)
        self._thread = threading.Thread(
            target=self.runner.run, args=(self._stop,), name="stats-collect-runner", daemon=True
        )
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until ``stop()`` (True) or ``timeout`` seconds (False)."""
        return self._stop.wait(timeout)

    def request_stop(self) -> None:
        """Ask the background polling to stop (safe from a signal handler)."""
        self._stop.set()

    def stop(self, timeout_seconds: float = 10.0) -> None:
        """Stop polling, stop serving, deliver the remaining events (bounded)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_seconds)
            self._thread = None
        server = self._server
        if server is not None:
            server.shutdown()
            server.server_close()
            self._server = None
        if self.sink is not None:
            self.sink.close()
        self._close_fetcher()

    def _close_fetcher(self) -> None:
        if self._owns_fetcher:
            self.fetcher.close()
