"""The librdkafka configuration the Kafka settings imply."""

from __future__ import annotations

from pathlib import Path

from stats_service.backends import build_queue, kafka_config
from stats_service.delivery.kafka import KafkaConfig, KafkaQueue
from stats_service.settings import Settings


def test_the_producer_waits_for_every_in_sync_replica_and_is_idempotent() -> None:
    producer = KafkaConfig(produce_timeout_seconds=3.0).producer_config()
    assert producer["acks"] == "all"
    assert producer["enable.idempotence"] is True
    assert producer["message.timeout.ms"] == 3000
    assert producer["compression.type"] == "lz4"


def test_the_consumer_never_commits_on_its_own() -> None:
    consumer = KafkaConfig(group="g").consumer_config()
    assert consumer["enable.auto.commit"] is False
    assert consumer["group.id"] == "g"


def test_sasl_and_tls_settings_reach_the_client() -> None:
    settings = Settings(
        queue="kafka",
        kafka_security_protocol="sasl_ssl",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="svc",
        kafka_sasl_password="hunter2-secret",
        kafka_ssl_ca_file=Path("/etc/ca.pem"),
    )
    common = kafka_config(settings).producer_config()
    assert common["security.protocol"] == "sasl_ssl"
    assert common["sasl.mechanism"] == "SCRAM-SHA-512"
    assert common["sasl.password"] == "hunter2-secret"
    assert common["ssl.ca.location"] == "/etc/ca.pem"
    assert "hunter2" not in repr(kafka_config(settings))
    assert settings.redacted()["kafka_sasl_password"] == "<redacted>"


def test_build_queue_picks_kafka_and_its_role() -> None:
    settings = Settings(queue="kafka", storage_backend="influxdb")
    api = build_queue(settings)
    forwarder = build_queue(settings, forward=True)
    assert isinstance(api, KafkaQueue)
    assert api.role == "produce"
    assert not api.forwarding_lease().try_acquire()  # an API replica never forwards
    assert isinstance(forwarder, KafkaQueue)
    assert forwarder.forwarding_lease().try_acquire()
