"""``stats-service forward``: one forwarder process of the Kafka topology.

It joins the forwarders' consumer group and drains its partitions into the
storage backend with the same :class:`~stats_service.delivery.forwarder.Forwarder`
the single-node outbox uses (through a ``DurableStore`` whose queue is the
Kafka queue in role ``forward``), until SIGTERM or SIGINT. Stopping finishes
the batch in flight (bounded by ``forward_close_timeout_seconds``), then
leaves the group so its partitions move to the other members at once.
With ``kafka_forwarder_metrics_port`` set it serves ``/metrics`` on ``host``
(its lag as ``stats_outbox_depth_events``, its dead letters not replayed
as ``stats_deadletters_pending``, beside the Kafka series).
"""

from __future__ import annotations

import asyncio
import logging
import signal

from prometheus_client import CollectorRegistry

from stats_service import __version__
from stats_service.backends import build_store
from stats_service.delivery.queue import DeliveryReporter
from stats_service.errors import ConfigurationError
from stats_service.observability.recorder import Metrics
from stats_service.settings import Settings

__all__ = ["run_forwarder"]

_log = logging.getLogger(__name__)


async def run_forwarder(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Forward until ``stop`` is set (by default: until SIGTERM or SIGINT)."""
    if settings.queue != "kafka":
        raise ConfigurationError("forward needs queue = kafka (serve forwards the outbox itself)")
    if settings.storage_backend not in ("influxdb", "influxdb2"):
        raise ConfigurationError("forward needs an influxdb or influxdb2 storage_backend")
    stop = stop or _signalled()
    metrics = Metrics(CollectorRegistry(), version=__version__)
    server = None
    if settings.kafka_forwarder_metrics_port:
        from prometheus_client import start_http_server  # noqa: PLC0415 - only when asked

        server, _thread = start_http_server(
            settings.kafka_forwarder_metrics_port, addr=settings.host, registry=metrics.registry
        )
    store = build_store(settings, metrics=metrics, kafka_metrics=metrics, forward=True)
    if isinstance(store, DeliveryReporter):  # lag, forward rate, dead letters as gauges
        metrics.watch_outbox(store.status_sync)
        metrics.registry.register(metrics.scrape_collector)
    await store.open()
    _log.info("forwarding %s to %s", settings.kafka_topic, settings.storage_backend)
    try:
        await stop.wait()
    finally:
        _log.info("stopping: finishing the batch in flight")
        await store.close()
        if server is not None:
            server.shutdown()


def _signalled() -> asyncio.Event:
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, event.set)
    return event
