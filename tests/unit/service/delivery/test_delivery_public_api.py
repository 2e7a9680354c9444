"""The public surface of the delivery modules and the durable store changes only on purpose."""

from __future__ import annotations

import importlib

import pytest

SURFACES = {
    "stats_service.delivery.backoff": ["Backoff", "is_retryable_status"],
    "stats_service.delivery.config": ["DeliveryConfig"],
    "stats_service.delivery.forwarder": [
        "ForwardOutcome",
        "Forwarder",
        "ForwarderMetrics",
    ],
    "stats_service.delivery.sending": [
        "DeliveryBackend",
        "LineBackend",
        "RetryLater",
        "Settlement",
        "deliver",
    ],
    "stats_service.delivery.lease": [
        "FileLease",
        "ForwardingLease",
        "MemoryLease",
        "MemoryLeases",
        "lease_path",
    ],
    "stats_service.delivery.queue": [
        "Appended",
        "DeadLetter",
        "DeliveryReporter",
        "DurableQueue",
        "LineAppender",
        "OutboxCounts",
        "OutboxEntry",
        "OutboxFull",
        "OutboxStatus",
        "ProbedQueue",
        "QueueUnavailable",
        "Rejection",
        "append_encoded",
    ],
    "stats_service.delivery.outbox.sqlite_outbox": ["Outbox"],
    "stats_service.delivery.memory": ["MemoryQueue"],
    "stats_service.delivery.durable": ["DurableStore"],
    "stats_service.delivery.partial": [
        "PartialPosition",
        "PartialReads",
        "WindowAnswer",
        "WindowReader",
        "read_window",
    ],
    "stats_service.delivery.provenance": ["BackendRecord", "OutboxReport", "report_outbox"],
    "stats_service.delivery.kafka.codec": ["decode_event", "deterministic_time_ns", "encode_event"],
    "stats_service.delivery.kafka.config": ["KafkaConfig"],
    "stats_service.delivery.kafka.consumer": ["EventConsumer", "GroupConsumer", "Message"],
    "stats_service.delivery.kafka.deadletter": [
        "KafkaDeadLetterTopic",
        "dead_letter_messages",
        "send_dead_letters",
    ],
    "stats_service.delivery.kafka.lag": ["KafkaMetrics", "NoKafkaMetrics"],
    "stats_service.delivery.kafka.producer": ["EventProducer"],
    "stats_service.delivery.kafka.queue": ["KafkaQueue"],
    "stats_service.delivery.kafka.replay": [
        "DeadLetterTopic",
        "DeadLetters",
        "DeadRecord",
        "MemoryDeadLetterTopic",
        "as_dead_letter",
        "pending",
    ],
    "stats_service.delivery.kafka.tail": [
        "KafkaTail",
        "TailReader",
        "format_cursor",
        "parse_cursor",
    ],
    "stats_service.delivery.kafka.tail_reader": ["TopicTail"],
}


@pytest.mark.parametrize(("module_name", "names"), SURFACES.items(), ids=list(SURFACES))
def test_each_module_exports_exactly_its_public_names(module_name, names):
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(names)
    for name in names:
        assert getattr(module, name).__module__ == module_name


def test_the_kafka_package_re_exports_its_queue_and_settings():
    kafka = importlib.import_module("stats_service.delivery.kafka")
    assert sorted(kafka.__all__) == [
        "KafkaConfig",
        "KafkaMetrics",
        "KafkaQueue",
        "NoKafkaMetrics",
        "Role",
        "deterministic_time_ns",
    ]


def test_the_durable_store_satisfies_the_store_interface():
    from stats_service.delivery.durable import DurableStore  # noqa: PLC0415
    from stats_service.storage.base import EventStore  # noqa: PLC0415

    members = [m for m in dir(EventStore) if not m.startswith("_")]
    assert members == ["close", "get", "health", "open", "query", "write"]
    for member in members:
        assert callable(getattr(DurableStore, member))


def test_the_outbox_package_exports_the_sqlite_queue():
    from stats_service.delivery import outbox  # noqa: PLC0415
    from stats_service.delivery.outbox.sqlite_outbox import Outbox  # noqa: PLC0415

    assert outbox.__all__ == ["Outbox"]
    assert outbox.Outbox is Outbox


@pytest.mark.parametrize("name", ["Outbox", "MemoryQueue"])
def test_both_queues_have_every_member_of_the_queue_protocol(name):
    from stats_service.delivery import memory, outbox  # noqa: PLC0415
    from stats_service.delivery.queue import DurableQueue  # noqa: PLC0415

    queue = {"Outbox": outbox.Outbox, "MemoryQueue": memory.MemoryQueue}[name]
    members = [m for m in dir(DurableQueue) if not m.startswith("_")]
    assert members == [
        "append",
        "deadletters",
        "forwarding_lease",
        "get_pending",
        "next_batch",
        "prune",
        "query_pending",
        "record_error",
        "replay",
        "settle",
        "start",
        "status",
        "status_sync",
        "stop",
        "writable",
    ]
    for member in members:
        assert hasattr(queue, member), member
