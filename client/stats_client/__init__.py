"""stats-client: the client SDK for stats-service.

``Analytics.init({...})`` once at startup, then ``Analytics.stats().log({...})``
anywhere: events are validated on the spot, buffered, batched, retried and
drained at exit, and ``log()`` never blocks the application.
"""

import logging

from stats_client._config import ClientConfig, DropCallback, DropPolicy, ErrorCallback
from stats_client._counters import DeliveryCounters, DropReason
from stats_client._transport import HTTPTransport, MemoryTransport, Request, Response, Transport
from stats_client.analytics import Analytics, Timer
from stats_client.exceptions import (
    AuthenticationError,
    ClientClosedError,
    ConfigurationError,
    DeliveryTimeoutError,
    EventNotFoundError,
    EventRejectedError,
    InvalidEventError,
    NotInitializedError,
    PayloadTooLargeError,
    QueueFullError,
    ServiceError,
    StatsClientError,
    TransportError,
)

__version__ = "0.1.0"

__all__ = [
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
]

# A library leaves output to the application: records go nowhere until it configures logging.
logging.getLogger("stats_client").addHandler(logging.NullHandler())
