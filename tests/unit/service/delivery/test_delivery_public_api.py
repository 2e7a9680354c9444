"""The public surface of the delivery modules and the durable store changes only on purpose."""

from __future__ import annotations

import importlib

import pytest

SURFACES = {
    "stats_service.delivery.backoff": ["Backoff", "is_retryable_status"],
    "stats_service.delivery.forwarder": [
        "DeliveryBackend",
        "ForwardOutcome",
        "Forwarder",
        "ForwarderConfig",
        "ForwarderMetrics",
    ],
    "stats_service.delivery.lease": [
        "FileLease",
        "ForwardingLease",
        "MemoryLease",
        "MemoryLeases",
        "lease_path",
    ],
    "stats_service.delivery.outbox": [
        "Appended",
        "DeadLetter",
        "Outbox",
        "OutboxCounts",
        "OutboxEntry",
        "OutboxFull",
        "OutboxStatus",
        "Rejection",
    ],
    "stats_service.storage.durable": ["DeliveryConfig", "DurableStore"],
}


@pytest.mark.parametrize(("module_name", "names"), SURFACES.items(), ids=list(SURFACES))
def test_each_module_exports_exactly_its_public_names(module_name, names):
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(names)
    for name in names:
        assert getattr(module, name).__module__ == module_name


def test_the_durable_store_satisfies_the_store_interface():
    from stats_service.storage.base import EventStore  # noqa: PLC0415
    from stats_service.storage.durable import DurableStore  # noqa: PLC0415

    members = [m for m in dir(EventStore) if not m.startswith("_")]
    assert members == ["close", "get", "health", "open", "query", "write"]
    for member in members:
        assert callable(getattr(DurableStore, member))
