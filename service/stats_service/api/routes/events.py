"""``/log/event`` and ``/log/events``: ingest, fetch by id, window query."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, FastAPI, Path, Query, Request
from starlette.responses import Response

from stats_service.api.body import (
    NDJSON_TYPES,
    decode_batch,
    decode_json,
    media_type,
    read_body,
    require_json,
)
from stats_service.api.cursor import decode_position, encode_cursor, encode_partial_cursor
from stats_service.api.dependencies import Reader, Writer
from stats_service.api.schemas import (
    BATCH_BODY,
    EVENT_OR_POINTS_BODY,
    BatchResult,
    EventList,
    StoredEvent,
    error_responses,
)
from stats_service.delivery.partial import PartialPosition, WindowAnswer, WindowReader
from stats_service.errors import (
    InvalidEvent,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
)
from stats_service.events.model import is_valid_event_id, parse_time, to_flat_dict
from stats_service.storage.base import EventQuery

__all__ = ["document_page_size", "router"]

router = APIRouter(prefix="/log", tags=["events"])

_MAX_TIME_NS = 2**63 - 1
_PARTIAL_WARNING = (
    "backend-unavailable: the storage backend cannot be queried now, so this page holds"
    " only events not yet forwarded to it; pass resume_cursor as cursor once it is back"
    " to read the rest of the window, with no event twice and none missing"
)
_WINDOW_PARAMS = frozenset({"since", "until", "event", "uid", "measurement", "limit", "cursor"})


def _json(content: Any) -> Response:
    return Response(content=orjson.dumps(content), media_type="application/json")


@router.post(
    "/event",
    summary="Log one event (or a list of points)",
    openapi_extra={"requestBody": EVENT_OR_POINTS_BODY},
    responses={
        200: {
            "description": "Stored durably: the event's id, or the list of point ids.",
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"type": "string", "example": "entry_4a42fcc243884bb58cb6d00759c2955d"},
                            {"type": "array", "items": {"type": "string"}},
                        ]
                    }
                }
            },
        },
        **error_responses(400, 401, 403, 413, 415, 422, 503),
    },
)
async def log_event(request: Request, caller: Writer) -> Response:
    """Store one event object and answer its id, the original contract.

    A JSON list of points (`measurement`, `tags`, `fields`, `time`) is the later
    form: all are stored, or none when one is invalid (422 names its index).
    """
    require_json(request.headers.get("content-type"))
    components = caller.components
    body = await read_body(request, max_bytes=components.settings.max_body_bytes)
    payload = decode_json(body)
    result = await components.ingestor.log_payload(payload, caller.principal.identity)
    components.metrics.events_accepted(len(result) if isinstance(result, list) else 1, "/log/event")
    return _json(result)


@router.post(
    "/events",
    summary="Log a batch of events and points",
    openapi_extra={"requestBody": BATCH_BODY},
    response_model=BatchResult,
    responses=error_responses(400, 401, 403, 413, 415, 422, 503),
)
async def log_events(request: Request, caller: Writer) -> Response:
    """Store every valid item of a batch; invalid items are listed, never sink the rest.

    The body is a JSON array or NDJSON (`application/x-ndjson`), optionally
    `Content-Encoding: gzip`. Items are events or points (an object with
    `measurement` and no `event` is a point).
    """
    settings = caller.components.settings
    kind = media_type(request)
    ndjson = kind in NDJSON_TYPES
    if not ndjson:
        require_json(request.headers.get("content-type"))
    body = await read_body(
        request,
        max_bytes=settings.max_batch_bytes,
        max_decompressed_bytes=settings.max_decompressed_bytes,
    )
    items, pre_rejected = decode_batch(body, ndjson=ndjson)
    if len(items) > settings.max_batch_events:
        raise PayloadTooLarge(
            f"batch of {len(items)} items is over the limit of {settings.max_batch_events}"
        )
    outcome = await caller.components.ingestor.log_batch(
        items, caller.principal.identity, pre_rejected
    )
    caller.components.metrics.events_accepted(len(outcome.ids), "/log/events")
    caller.components.metrics.events_rejected(len(outcome.rejected), "invalid_event")
    return _json(
        {
            "accepted": len(outcome.ids),
            "ids": outcome.ids,
            "rejected": [{"index": i, "error": e} for i, e in outcome.rejected],
        }
    )


@router.get(
    "/event/{event_id}",
    summary="Fetch one stored event",
    response_model=StoredEvent,
    responses=error_responses(401, 403, 404),
)
async def get_event(
    event_id: Annotated[str, Path(description="The id `POST /log/event` answered.")],
    caller: Reader,
) -> Response:
    """The stored event as flat JSON: `event_id`, `time` (ISO 8601 UTC), tags and data."""
    store = caller.components.store
    event = await store.get(event_id) if is_valid_event_id(event_id) else None
    if event is None:
        raise NotFound("no event with this id")
    return _json(to_flat_dict(event))


@router.get(
    "/events",
    summary="Query events in a time window",
    response_model=EventList,
    responses={
        200: {
            "description": (
                "One page, oldest first. While the storage backend cannot be queried,"
                " a partial page: the events not yet forwarded to it, `partial: true`."
            ),
            "headers": {
                "X-Stats-Partial": {
                    "description": "Only on a partial page: why (`backend-unavailable`).",
                    "schema": {"type": "string", "enum": ["backend-unavailable"]},
                }
            },
        },
        **error_responses(401, 403, 503),
    },
)
async def list_events(
    request: Request,
    caller: Reader,
    since: Annotated[
        str | None, Query(description="Window start, included (ISO 8601 or epoch seconds).")
    ] = None,
    until: Annotated[
        str | None, Query(description="Window end, excluded (ISO 8601 or epoch seconds).")
    ] = None,
    event: Annotated[str | None, Query(description="Only events of this type.")] = None,
    uid: Annotated[str | None, Query(description="Only events of this uid.")] = None,
    measurement: Annotated[str | None, Query(description="Only this measurement.")] = None,
    limit: Annotated[
        int, Query(ge=1, description="Page size, 1 to max_page_size; more is a 422.")
    ] = 100,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> Response:
    """Events with `since <= time < until`, oldest first, one page at a time.

    While the storage backend cannot be queried the page is partial: the events
    not yet forwarded to it, `partial: true`, `warnings`, `resume_cursor` and
    the header `X-Stats-Partial: backend-unavailable`.
    """
    unknown = sorted(set(request.query_params) - _WINDOW_PARAMS)
    if unknown:
        raise InvalidInput(
            f"unknown query parameter {unknown[0]!r}; known: {', '.join(sorted(_WINDOW_PARAMS))}",
            details={"key": unknown[0]},
        )
    since_ns = _window_edge(since, "since", 0)
    until_ns = _window_edge(until, "until", _MAX_TIME_NS)
    if until_ns < since_ns:
        raise InvalidInput("until is before since", details={"key": "until"})
    max_page_size = caller.components.settings.max_page_size
    if limit > max_page_size:
        # Refused, not reduced: the same request always means the same page,
        # and the bound is in the OpenAPI schema a client reads.
        raise InvalidInput(
            f"limit {limit} is over this service's max_page_size of {max_page_size}",
            details={"key": "limit"},
        )
    position = decode_position(cursor) if cursor else None
    partial: PartialPosition | None = None
    after: tuple[int, str] | None
    if isinstance(position, PartialPosition):
        partial, after = position, position.complete_after
    else:
        after = position
    query = EventQuery(
        since_ns=since_ns,
        until_ns=until_ns,
        limit=limit,
        event=event,
        uid=uid,
        measurement=measurement,
        after=after,
    )
    store = caller.components.store
    if isinstance(store, WindowReader):
        answer = await store.read_window(query, partial)
    else:
        page = await store.query(query)
        answer = WindowAnswer(page.events, next_after=page.next_after)
    return _window_page(answer)


def _window_page(answer: WindowAnswer) -> Response:
    """The JSON page of ``answer``; a partial one says so in its body and a header."""
    if answer.next_partial is not None:
        next_cursor: str | None = encode_partial_cursor(answer.next_partial)
    else:
        next_cursor = encode_cursor(answer.next_after) if answer.next_after else None
    body: dict[str, Any] = {
        "events": [to_flat_dict(e) for e in answer.events],
        "next_cursor": next_cursor,
        "partial": answer.partial,
    }
    if answer.resume is None:
        return _json(body)
    body["warnings"] = [_PARTIAL_WARNING]
    body["resume_cursor"] = encode_partial_cursor(answer.resume)
    response = _json(body)
    response.headers["X-Stats-Partial"] = answer.reason or "partial"
    return response


def _window_edge(value: str | None, key: str, default: int) -> int:
    if value is None or value == "":
        return default
    parsed: object
    try:
        parsed = float(value)
    except ValueError:
        parsed = value
    try:
        return parse_time(parsed, key=key)
    except InvalidEvent as exc:
        raise InvalidInput(exc.message, details={"key": key}) from None


def document_page_size(app: FastAPI, max_page_size: int) -> None:
    """State ``max_page_size`` on the ``limit`` of ``GET /log/events`` in ``app``'s OpenAPI.

    The bound is a setting, so the route's static schema cannot carry it.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        spec = build()
        for parameter in spec["paths"]["/log/events"]["get"]["parameters"]:
            if parameter["name"] == "limit":
                parameter["schema"]["maximum"] = max_page_size
                parameter["description"] = (
                    f"Page size, 1 to {max_page_size} (max_page_size); "
                    "a larger limit is a 422, never silently reduced."
                )
        return spec

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
