"""The public surface of stats_client is curated: changing it must be deliberate."""

from __future__ import annotations

import importlib
import logging

import pytest

import stats_client
from stats_client import exceptions

EXPECTED_PUBLIC_NAMES = {
    "Analytics",
    "AuthenticationError",
    "ClientClosedError",
    "ClientConfig",
    "ConfigurationError",
    "DeliveryCounters",
    "DeliveryTimeoutError",
    "DropCallback",
    "DropPolicy",
    "DropReason",
    "ErrorCallback",
    "EventNotFoundError",
    "EventRejectedError",
    "HTTPTransport",
    "InvalidEventError",
    "MemoryTransport",
    "NotInitializedError",
    "PayloadTooLargeError",
    "QueueFullError",
    "Request",
    "Response",
    "ServiceError",
    "StatsClientError",
    "Timer",
    "Transport",
    "TransportError",
    "__version__",
}


def test_public_names_are_exactly_the_curated_set():
    assert set(stats_client.__all__) == EXPECTED_PUBLIC_NAMES
    for name in stats_client.__all__:
        assert hasattr(stats_client, name), name


def test_version_is_a_dotted_string():
    parts = stats_client.__version__.split(".")
    assert len(parts) == 3
    assert all(part.isdigit() for part in parts)


@pytest.mark.parametrize(
    "module_name",
    ["stats_client.client.analytics", "stats_client.client", "stats_client.analytics"],
    ids=["seed-path", "seed-package", "facade-module"],
)
def test_seed_compatible_import_paths_give_the_same_class(module_name):
    module = importlib.import_module(module_name)
    assert module.Analytics is stats_client.Analytics


@pytest.mark.parametrize(
    ("leaf", "parents"),
    [
        (exceptions.ConfigurationError, (exceptions.StatsClientError, ValueError)),
        (exceptions.NotInitializedError, (exceptions.StatsClientError, RuntimeError)),
        (exceptions.InvalidEventError, (exceptions.StatsClientError, ValueError)),
        (exceptions.QueueFullError, (exceptions.StatsClientError,)),
        (exceptions.ClientClosedError, (exceptions.StatsClientError,)),
        (exceptions.DeliveryTimeoutError, (exceptions.StatsClientError,)),
        (exceptions.TransportError, (exceptions.StatsClientError,)),
        (exceptions.EventRejectedError, (exceptions.StatsClientError,)),
        (exceptions.AuthenticationError, (exceptions.ServiceError,)),
        (exceptions.EventNotFoundError, (exceptions.ServiceError,)),
        (exceptions.PayloadTooLargeError, (exceptions.ServiceError,)),
        (exceptions.ServiceError, (exceptions.StatsClientError,)),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else "",
)
def test_exception_tree(leaf, parents):
    for parent in parents:
        assert issubclass(leaf, parent)


def test_every_exception_is_drawn_in_the_module_docstring():
    doc = exceptions.__doc__ or ""
    for name in exceptions.__all__:
        assert name in doc, name


def test_the_package_logger_only_has_a_null_handler():
    handlers = logging.getLogger("stats_client").handlers
    assert handlers
    assert all(isinstance(handler, logging.NullHandler) for handler in handlers)
