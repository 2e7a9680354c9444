"""The durable queue on Apache Kafka (``STATS_QUEUE=kafka``; the ``kafka`` extra).

API replicas produce (:class:`KafkaQueue` in role ``produce``); ``stats-service
forward`` is a consumer-group member (role ``forward``) drained by the same
forwarder as the outbox. See :mod:`.queue` for what is guaranteed.
"""

from stats_service.delivery.kafka.codec import deterministic_time_ns
from stats_service.delivery.kafka.config import KafkaConfig
from stats_service.delivery.kafka.lag import KafkaMetrics, NoKafkaMetrics
from stats_service.delivery.kafka.queue import KafkaQueue, Role

__all__ = [
    "KafkaConfig",
    "KafkaMetrics",
    "KafkaQueue",
    "NoKafkaMetrics",
    "Role",
    "deterministic_time_ns",
]
