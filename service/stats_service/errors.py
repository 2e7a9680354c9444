"""The exception tree of stats-service.

Every error a client can cause is one of these; ``api.errors`` maps them to
HTTP responses of one JSON shape in one place, so routes never build error
bodies by hand::

    StatsServiceError                 500 internal (never raised for client input)
    ├── BadRequest                    400 bad_request
    │   └── LineProtocolRejected      400 in InfluxDB's error shape (the write endpoints)
    ├── Unauthorized                  401 unauthorized (+ WWW-Authenticate)
    ├── Forbidden                     403 forbidden
    ├── NotFound                      404 not_found
    ├── Conflict                      409 conflict
    ├── PayloadTooLarge               413 payload_too_large
    ├── UnsupportedMediaType          415 unsupported_media_type
    ├── InvalidInput                  422 invalid
    │   └── InvalidEvent              422 invalid_event (names the offending key)
    ├── ServiceUnavailable            503 unavailable (+ Retry-After)
    └── ConfigurationError            startup only: bad settings, never a response
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "BadRequest",
    "ConfigurationError",
    "Conflict",
    "Forbidden",
    "Gone",
    "InvalidEvent",
    "InvalidInput",
    "LineProtocolRejected",
    "NotFound",
    "PayloadTooLarge",
    "ServiceUnavailable",
    "StatsServiceError",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
]


class StatsServiceError(Exception):
    """Base of every stats-service error."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def headers(self) -> dict[str, str]:
        """Extra response headers this error asks for."""
        return {}

    @property
    def auth_failure_reason(self) -> str | None:
        """Why credentials were refused, for metrics and logs; None for other errors."""
        return None


class BadRequest(StatsServiceError):
    """The request cannot be parsed at all (bad JSON, bad encoding, bad gzip)."""

    status_code = 400
    code = "bad_request"


class LineProtocolRejected(BadRequest):
    """A line-protocol write refused in whole or in part (the good lines are stored).

    Answered in the error shape of the InfluxDB API the client spoke: ``api``
    is ``"v1"`` (``{"error": message}``) or ``"v2"`` (``{"code", "message"}``).
    """

    def __init__(self, message: str, *, api: str) -> None:
        super().__init__(message)
        self.api = api


class Unauthorized(StatsServiceError):
    """No usable credentials: missing, malformed, badly signed, expired or revoked token."""

    status_code = 401
    code = "unauthorized"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Token realm="stats-service"'}


class Forbidden(StatsServiceError):
    """Valid credentials without the scope the operation needs."""

    status_code = 403
    code = "forbidden"

    @property
    def auth_failure_reason(self) -> str | None:
        """Always ``forbidden``."""
        return "forbidden"


class NotFound(StatsServiceError):
    """The addressed resource does not exist."""

    status_code = 404
    code = "not_found"


class Conflict(StatsServiceError):
    """The request clashes with the resource's current state (e.g. a name already taken)."""

    status_code = 409
    code = "conflict"


class PayloadTooLarge(StatsServiceError):
    """The body (raw or decompressed) or the batch is over a configured limit."""

    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(StatsServiceError):
    """The body's Content-Type or Content-Encoding is not one we accept."""

    status_code = 415
    code = "unsupported_media_type"


class InvalidInput(StatsServiceError):
    """The body parsed but its content breaks a rule (query parameters included)."""

    status_code = 422
    code = "invalid"


class InvalidEvent(InvalidInput):
    """One event or point breaks the event model; ``key`` names the offending key."""

    code = "invalid_event"

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message, details={"key": key} if key is not None else None)
        self.key = key


class ServiceUnavailable(StatsServiceError):
    """The service cannot take more work now (e.g. the outbox is full)."""

    status_code = 503
    code = "unavailable"

    def __init__(self, message: str, *, retry_after_seconds: int = 1) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class TooManyRequests(StatsServiceError):
    """The caller holds as many of a limited resource (e.g. live streams) as allowed."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after_seconds: int = 5) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class Gone(StatsServiceError):
    """What was asked for existed once and is no longer kept (e.g. a stream resume point)."""

    status_code = 410
    code = "gone"


class ConfigurationError(StatsServiceError):
    """Settings are missing or unsafe; raised at startup, never answered to a client."""
