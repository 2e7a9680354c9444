"""The exception tree of stats-client.

``log()`` never raises these unless the client is ``strict``; in the default
mode delivery errors reach the ``on_error`` callback and lost events are
counted by reason. Explicit calls (``ping``, ``get``, the CLI) raise them::

    StatsClientError
    ├── ConfigurationError        bad init options (unknown key, wrong type, bad value)
    ├── NotInitializedError       Analytics.stats() before Analytics.init(...)
    ├── InvalidEventError         an event breaks the wire rules (names the key)
    ├── QueueFullError            the buffer is full and the drop policy dropped the event
    ├── ClientClosedError         the client was closed before the call
    ├── DeliveryTimeoutError      a synchronous send ran past its deadline
    ├── TransportError            no HTTP answer: refused, reset, DNS, TLS, timeout
    ├── EventRejectedError        the service refused one item of an accepted batch
    └── ServiceError              the service answered with an error status
        ├── AuthenticationError   401 / 403: the token is missing, bad or lacks a scope
        ├── EventNotFoundError    404: no event with that id
        └── PayloadTooLargeError  413 for a single event that cannot be split further
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "ClientClosedError",
    "ConfigurationError",
    "DeliveryTimeoutError",
    "EventNotFoundError",
    "EventRejectedError",
    "InvalidEventError",
    "NotInitializedError",
    "PayloadTooLargeError",
    "QueueFullError",
    "ServiceError",
    "StatsClientError",
    "TransportError",
]


class StatsClientError(Exception):
    """Base of every stats-client error.

    ``event_ids`` names the events the error is about (empty when it is about
    none, e.g. a failed ``ping``).
    """

    def __init__(self, message: str, *, event_ids: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.event_ids = event_ids


class ConfigurationError(StatsClientError, ValueError):
    """An init option is unknown, of the wrong type or out of range."""


class NotInitializedError(StatsClientError, RuntimeError):
    """``Analytics.stats()`` was called before ``Analytics.init(...)``."""


class InvalidEventError(StatsClientError, ValueError):
    """An event breaks the wire rules; ``key`` names the offending key when there is one."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class QueueFullError(StatsClientError):
    """The buffer was full and the event was dropped (raised only when strict)."""


class ClientClosedError(StatsClientError):
    """The client was closed; it accepts no more events."""


class DeliveryTimeoutError(StatsClientError):
    """A synchronous send (``defer=False``) did not finish before its deadline."""


class TransportError(StatsClientError):
    """The request got no HTTP answer (refused, reset, name lookup, TLS, timeout)."""


class EventRejectedError(StatsClientError):
    """The service stored a batch but refused this one item; it is never retried."""

    def __init__(self, message: str, *, event_id: str, index: int) -> None:
        super().__init__(message, event_ids=(event_id,))
        self.event_id = event_id
        self.index = index


class ServiceError(StatsClientError):
    """The service answered with an error status and (usually) a JSON error body.

    ``code`` and ``details`` come from the body's ``{"error": {...}}`` when present.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str = "",
        details: Any = None,
        retry_after_seconds: float | None = None,
        event_ids: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, event_ids=event_ids)
        self.status = status
        self.code = code
        self.details = details
        self.retry_after_seconds = retry_after_seconds


class AuthenticationError(ServiceError):
    """401 or 403: the token is missing, malformed, expired, revoked or lacks a scope."""


class EventNotFoundError(ServiceError):
    """404 from ``get(event_id)``: the service holds no such event."""


class PayloadTooLargeError(ServiceError):
    """413 for a single event: it cannot be split any further, so it is dropped."""
