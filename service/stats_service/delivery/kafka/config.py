"""The Kafka queue's settings, and the client configuration they imply.

One frozen object for the ``STATS_KAFKA_*`` settings (built from ``Settings``
by :func:`stats_service.backends.build_queue`), turned into librdkafka
configuration dicts for the producer and the consumer in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["KafkaConfig"]


@dataclass(frozen=True, slots=True)
class KafkaConfig:
    """Where the brokers are, which topics and group, and how to authenticate."""

    bootstrap_servers: str = "127.0.0.1:9092"
    topic: str = "stats-events"
    dead_letter_topic: str = "stats-events-dead"
    group: str = "stats-forwarders"
    security_protocol: str = "plaintext"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    ssl_ca_file: Path | None = None
    produce_timeout_seconds: float = 10.0
    """How long one append waits for every acknowledgement before it fails."""
    linger_ms: int = 2
    """How long the producer waits to fill a batch (librdkafka ``linger.ms``)."""
    compression: str = "lz4"
    stream_retain_events: int = 10_000
    """How many of the newest events a replica keeps for the live stream to resume from."""
    dead_letter_refresh_seconds: float = 30.0
    read_your_writes_events: int = 10_000
    """How many of its newest produced events a replica answers reads from before they
    are forwarded (0: none)."""
    """How often a process counts the dead letters not replayed (for its status)."""

    def _common(self) -> dict[str, Any]:
        common: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            "client.id": "stats-service",
        }
        if self.sasl_mechanism:
            common["sasl.mechanism"] = self.sasl_mechanism
            common["sasl.username"] = self.sasl_username
            common["sasl.password"] = self.sasl_password
        if self.ssl_ca_file is not None:
            common["ssl.ca.location"] = str(self.ssl_ca_file)
        return common

    def producer_config(self) -> dict[str, Any]:
        """acks from every in-sync replica, idempotent, batched and compressed."""
        timeout_ms = max(1, int(self.produce_timeout_seconds * 1000))
        return {
            **self._common(),
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": self.linger_ms,
            "compression.type": self.compression,
            "message.timeout.ms": timeout_ms,
            "request.timeout.ms": min(timeout_ms, 30_000),
        }

    def consumer_config(self) -> dict[str, Any]:
        """A group member that commits only what it was told to (never automatically)."""
        return {
            **self._common(),
            "group.id": self.group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 1_000,
            "max.poll.interval.ms": 300_000,
        }

    def tail_config(self, member: str) -> dict[str, Any]:
        """A reader outside every group (``member`` names it): assigned partitions, no
        commits; the live stream's tail of the topic."""
        return {
            **self._common(),
            "group.id": f"{self.group}-tail-{member}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "latest",
            "fetch.wait.max.ms": 100,
        }
