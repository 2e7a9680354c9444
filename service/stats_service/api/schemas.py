"""OpenAPI descriptions of the bodies the routes read and write.

Routes parse bodies themselves (fast JSON, the event model, streaming limits),
so these models document the wire format rather than validate it. The event
model (``events.model``) is the authority on what is accepted.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BATCH_BODY",
    "EVENT_OR_POINTS_BODY",
    "BatchResult",
    "ErrorBody",
    "EventList",
    "Health",
    "Ping",
    "Readiness",
    "error_responses",
]

_KEY_RULE = "^[A-Za-z][A-Za-z0-9_]{0,127}$"
_KEY_NAMES: dict[str, Any] = {
    "pattern": _KEY_RULE,
    "not": {"enum": ["time", "event_id", "measurement", "identity"]},
}
_SCALAR: dict[str, Any] = {
    "anyOf": [
        {"type": "string"},
        {"type": "integer"},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "object"},
        {"type": "array"},
    ]
}
_TIME: dict[str, Any] = {
    "description": "ISO 8601 (naive means UTC) or epoch seconds; default: arrival time.",
    "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}],
}
_EVENT_ID: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"},
        {"type": "null"},
    ],
    "description": "Client-chosen id; a repeated id is stored once (idempotent).",
}
_TAGS: dict[str, Any] = {
    "anyOf": [
        {
            "type": "object",
            "propertyNames": _KEY_NAMES,
            "additionalProperties": {"type": ["string", "null"]},
        },
        {"type": "null"},
    ],
    "description": f"Low-cardinality string tags; keys match {_KEY_RULE}; nulls are dropped.",
}
EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Event",
    "description": (
        "One analytics event. `event` and `uid` are required; every other key is data "
        f"(keys match {_KEY_RULE}; nested objects are flattened with `_`, lists stored "
        "as JSON strings, nulls dropped)."
    ),
    "required": ["event", "uid"],
    "properties": {
        "event": {"type": "string", "minLength": 1, "maxLength": 256, "example": "pnc.user.login"},
        "uid": {"type": "string", "maxLength": 1024, "example": "oisin"},
        "time": _TIME,
        "event_id": _EVENT_ID,
        "tags": _TAGS,
    },
    "propertyNames": {"pattern": _KEY_RULE, "not": {"enum": ["measurement", "identity"]}},
    "additionalProperties": _SCALAR,
}
POINT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Point",
    "description": "A measurement point: its own measurement, tags and fields.",
    "required": ["measurement", "fields"],
    "properties": {
        "measurement": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_.\\-]{0,127}$"},
        "tags": _TAGS,
        "fields": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": _KEY_NAMES,
            "additionalProperties": _SCALAR,
        },
        "time": _TIME,
        "event_id": _EVENT_ID,
    },
    "additionalProperties": False,
}
EVENT_OR_POINTS_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [EVENT_SCHEMA, {"type": "array", "items": POINT_SCHEMA}],
            },
            "example": {"event": "pnc.test", "uid": "oisin", "now": "Mon 25 Apr 2016"},
        }
    },
}
_ITEMS: dict[str, Any] = {
    "type": "array",
    "description": (
        "Events and points. Items are validated one by one: an invalid item is "
        "listed in `rejected` and never sinks the valid ones."
    ),
    "items": {
        "anyOf": [
            EVENT_SCHEMA,
            POINT_SCHEMA,
            {"description": "Anything else is answered in `rejected` with the reason."},
        ]
    },
}
BATCH_BODY: dict[str, Any] = {
    "required": True,
    "description": "A JSON array, or NDJSON (one item per line); may be gzip-encoded.",
    "content": {
        "application/json": {"schema": _ITEMS},
        "application/x-ndjson": {"schema": {"type": "string"}},
    },
}


class ErrorDetail(BaseModel):
    """The inside of every error body."""

    code: str = Field(examples=["invalid_event"])
    message: str = Field(examples=["data key 'user-agent' is invalid"])
    details: Any = None


class ErrorBody(BaseModel):
    """Every error response has this shape."""

    error: ErrorDetail


class Ping(BaseModel):
    """Liveness, version and the storage state."""

    status: str = Field(examples=["ok"])
    name: str = Field(examples=["stats-service"])
    version: str
    storage: dict[str, Any] | None = Field(
        default=None,
        examples=[{"backend": "influxdb", "state": "ok", "pending_events": 0, "dead_letters": 0}],
    )


class Health(BaseModel):
    """A probe's answer."""

    status: str = Field(examples=["ok"])
    storage: dict[str, Any] | None = None


class Readiness(Health):
    """The readiness probe's answer: the store's state and each subsystem's."""

    components: dict[str, Any] | None = Field(
        default=None, description="Each subsystem's health; absent when none runs."
    )


class Rejection(BaseModel):
    """Why one batch item was not stored."""

    index: int
    error: str


class BatchResult(BaseModel):
    """Outcome of a batch: accepted items are durable; rejected ones are not stored."""

    accepted: int
    ids: list[str]
    rejected: list[Rejection]


class StoredEvent(BaseModel):
    """A stored event, flat: id, time (ISO 8601 UTC, ns), measurement, tags and data."""

    model_config = ConfigDict(extra="allow")

    event_id: str
    time: str = Field(examples=["2016-04-25T12:29:48.844949259Z"])
    measurement: str


class EventList(BaseModel):
    """One page of a window query, oldest first."""

    events: list[StoredEvent]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )
    partial: bool = Field(
        default=False,
        description=(
            "True while the storage backend cannot be queried: the page holds only the"
            " events not yet forwarded to it (header `X-Stats-Partial: backend-unavailable`)."
        ),
    )
    warnings: list[str] | None = Field(
        default=None, description="On a partial page only: why it is partial."
    )
    resume_cursor: str | None = Field(
        default=None,
        description=(
            "On a partial page only: pass as `cursor` once the backend is back to read the"
            " rest of the window (the backend's events the partial pages lacked, then the"
            " next ones), with no event twice and none missing."
        ),
    )


_MESSAGES = {
    400: "The body cannot be parsed (not JSON, bad gzip, empty).",
    401: "Missing, malformed, badly signed, expired or revoked token.",
    403: "The token lacks the scope this operation needs.",
    404: "No such event.",
    409: "The request clashes with the current state (e.g. a name already taken).",
    413: "The body, its decompressed size or the batch is over a limit.",
    415: "Content-Type or Content-Encoding not accepted.",
    422: "The content breaks a rule; `details.key` names the offending key.",
    429: "Too many concurrent streams for this identity; retry after `Retry-After` seconds.",
    503: "The service cannot take more work now; retry after `Retry-After` seconds.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error codes."""
    return {code: {"model": ErrorBody, "description": _MESSAGES[code]} for code in codes}
