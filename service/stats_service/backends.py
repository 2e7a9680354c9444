"""The store, the durable queue and the delivery settings, built from settings.

The one place a queue is constructed: the service (through
:func:`build_store`) and the command line (``outbox``, ``deadletter``) both
get theirs from :func:`build_queue`. The InfluxDB backends always sit behind
the queue: a 2xx means the event is committed locally, and the forwarder
delivers it to InfluxDB.
"""

from __future__ import annotations

from stats_service.delivery.backoff import Backoff
from stats_service.delivery.config import DeliveryConfig
from stats_service.delivery.forwarder import ForwarderMetrics
from stats_service.delivery.kafka.config import KafkaConfig
from stats_service.delivery.kafka.lag import KafkaMetrics
from stats_service.delivery.queue import DurableQueue
from stats_service.settings import Settings
from stats_service.storage.base import EventStore

__all__ = ["OUTBOX_FILE", "build_queue", "build_store", "delivery_config", "kafka_config"]

OUTBOX_FILE = "outbox.sqlite3"
"""The outbox's file name under the data dir."""

# Backends are imported when chosen: a service on the embedded store never
# loads an HTTP client or influxdb-client.
# ruff: noqa: PLC0415


def delivery_config(settings: Settings) -> DeliveryConfig:
    """The ``forward_*`` settings as the forwarder's typed view."""
    return DeliveryConfig(
        batch_max_events=settings.forward_batch_max_events,
        batch_max_bytes=settings.forward_batch_max_bytes,
        linger_seconds=settings.forward_linger_seconds,
        close_timeout_seconds=settings.forward_close_timeout_seconds,
        backoff=Backoff(
            initial_seconds=settings.forward_backoff_initial_seconds,
            max_seconds=settings.forward_backoff_max_seconds,
        ),
    )


def kafka_config(settings: Settings) -> KafkaConfig:
    """The ``kafka_*`` settings as the Kafka queue's typed view."""
    from stats_service.delivery.kafka.config import KafkaConfig

    return KafkaConfig(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topic=settings.kafka_topic,
        dead_letter_topic=settings.kafka_dead_letter_topic,
        group=settings.kafka_consumer_group,
        security_protocol=settings.kafka_security_protocol,
        sasl_mechanism=settings.kafka_sasl_mechanism,
        sasl_username=settings.kafka_sasl_username,
        sasl_password=settings.kafka_sasl_password,
        ssl_ca_file=settings.kafka_ssl_ca_file,
        produce_timeout_seconds=settings.kafka_produce_timeout_seconds,
        stream_retain_events=settings.kafka_stream_retain_events,
        dead_letter_refresh_seconds=settings.kafka_dead_letter_refresh_seconds,
        read_your_writes_events=settings.kafka_read_your_writes_events,
    )


def build_queue(
    settings: Settings,
    *,
    existing_only: bool = False,
    forward: bool = False,
    kafka_metrics: KafkaMetrics | None = None,
) -> DurableQueue:
    """The durable queue of ``settings``: the SQLite outbox under the data dir,
    or (``queue = kafka``) the Kafka topic.

    ``existing_only`` (the command line): starting it raises
    ``FileNotFoundError`` where there is no queue yet, rather than creating
    one, and leaves its counters and its recorded backend as they are.
    Otherwise (the service) starting it records ``storage_backend`` in it.
    ``forward`` (``stats-service forward``): the Kafka queue joins the
    forwarders' consumer group; without it, it only produces.
    """
    if settings.queue == "kafka":
        from stats_service.delivery.kafka.queue import KafkaQueue

        return KafkaQueue(
            kafka_config(settings),
            role="forward" if forward else "produce",
            metrics=kafka_metrics,
        )
    from stats_service.delivery.outbox import Outbox

    return Outbox(
        settings.data_dir / OUTBOX_FILE,
        max_pending_events=settings.outbox_max_pending_events,
        max_pending_bytes=settings.outbox_max_pending_bytes,
        dedupe_window_seconds=settings.outbox_dedupe_window_seconds,
        create=not existing_only,
        repair_on_start=not existing_only,
        backend=None if existing_only else settings.storage_backend,
    )


def build_store(
    settings: Settings,
    *,
    metrics: ForwarderMetrics | None = None,
    kafka_metrics: KafkaMetrics | None = None,
    forward: bool = False,
) -> EventStore:
    """The backend ``settings.storage_backend`` names (``forward``: see :func:`build_queue`)."""
    backend = settings.storage_backend
    if backend == "memory":
        from stats_service.storage.memory import MemoryStore

        return MemoryStore()
    if backend == "embedded":
        from stats_service.storage.embedded import EmbeddedStore

        return EmbeddedStore(settings.data_dir / "events.sqlite3")
    from stats_service.delivery.durable import DurableStore

    return DurableStore(
        _influx_store(settings),
        build_queue(settings, forward=forward, kafka_metrics=kafka_metrics),
        metrics=metrics,
        config=delivery_config(settings),
    )


def _influx_store(settings: Settings) -> EventStore:
    if settings.storage_backend == "influxdb":
        from stats_service.storage.influx.config import InfluxDBConfig
        from stats_service.storage.influx.v1 import InfluxDBStore

        return InfluxDBStore(
            InfluxDBConfig(
                url=settings.influxdb_url,
                database=settings.influxdb_database,
                retention_policy=settings.influxdb_retention_policy or None,
                username=settings.influxdb_username or None,
                password=settings.influxdb_password or None,
                verify_tls=settings.influxdb_verify_tls,
                timeout_seconds=settings.influxdb_timeout_seconds,
                measurement=settings.measurement,
            )
        )
    from stats_service.storage.influx.config import InfluxDB2Config
    from stats_service.storage.influx.v2 import InfluxDB2Store

    return InfluxDB2Store(
        InfluxDB2Config(
            url=settings.influxdb_url,
            org=settings.influxdb_org,
            bucket=settings.influxdb_bucket,
            token=settings.influxdb_token,
            verify_tls=settings.influxdb_verify_tls,
            timeout_seconds=settings.influxdb_timeout_seconds,
            measurement=settings.measurement,
        )
    )
