"""InfluxDB-compatible writes: ``POST /write`` (1.x API) and ``POST /api/v2/write`` (2.x).

The body is line protocol (optionally ``Content-Encoding: gzip``), read under
the batch limits (``max_batch_bytes``, ``max_decompressed_bytes``). Every line
is parsed (:mod:`stats_service.events.lineprotocol_parse`) and mapped to the
event model (:mod:`stats_service.events.lineprotocol_events`); the good points
are stored durably in one write, then the answer is InfluxDB's: 204, or 400
naming the first refused line (``partial write: ...`` when others were
stored) in the error shape of the API the client spoke.

``db``/``bucket`` are required, as InfluxDB requires them, and otherwise only
name the write: every point goes to the service's one store (its configured
measurement rules, its database or bucket). ``rp``, ``org``/``orgID`` and
``consistency`` are accepted and ignored.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from stats_service.api.body import read_body
from stats_service.api.dependencies import Caller, InfluxWriter
from stats_service.api.schemas import error_responses
from stats_service.errors import BadRequest, LineProtocolRejected, PayloadTooLarge
from stats_service.events.lineprotocol_parse import (
    LineError,
    ParseResult,
    TooManyLines,
    parse_lines,
    split_lines,
)
from stats_service.settings import Settings

__all__ = ["router"]

router = APIRouter(tags=["influxdb"])

# influxd 1.6 takes any other value as nanoseconds, which silently misdates
# points; we refuse it.
_V1_PRECISIONS: Final = frozenset({"", "n", "ns", "u", "us", "ms", "s", "m", "h"})
_V2_PRECISIONS: Final = frozenset({"", "ns", "us", "ms", "s"})
_INLINE_PARSE_BYTES: Final = 1 << 20
_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    204: {"description": "Every line is stored durably."},
    400: {
        "description": "A line was refused (the others are stored): InfluxDB's error shape.",
        "content": {"application/json": {"example": {"error": "unable to parse 'x': ..."}}},
    },
    **error_responses(401, 403, 413, 415, 503),
}

_Precision = Annotated[str, Query(description="Timestamp unit.")]
_Password = Annotated[
    str | None, Query(description="1.x: the token (the user `u` is ignored).", alias="p")
]


@router.post(
    "/write",
    status_code=204,
    summary="Write line protocol (InfluxDB 1.x API)",
    responses=_RESPONSES,
)
async def write_v1(
    request: Request,
    caller: InfluxWriter,
    db: Annotated[str, Query(description="Database: required; see the README.")] = "",
    rp: Annotated[str, Query(description="Retention policy: accepted, ignored.")] = "",
    precision: Annotated[str, Query(description="n, u, ms, s, m or h (default n).")] = "",
    password: _Password = None,
) -> Response:
    """Store line protocol sent the 1.x way (`Token`, Basic auth or `u`/`p` credentials)."""
    del rp, password  # accepted for compatibility; the token was checked by the dependency
    if not db:
        raise LineProtocolRejected("database is required", api="v1")
    if precision not in _V1_PRECISIONS:
        raise LineProtocolRejected(
            f"invalid precision {precision!r} (use n, u, ms, s, m or h)", api="v1"
        )
    return await _write(request, caller, precision or "ns", "v1", "/write")


@router.post(
    "/api/v2/write",
    status_code=204,
    summary="Write line protocol (InfluxDB 2.x API)",
    responses=_RESPONSES,
)
async def write_v2(
    request: Request,
    caller: InfluxWriter,
    bucket: Annotated[str, Query(description="Bucket: required; see the README.")] = "",
    org: Annotated[str, Query(description="Organisation: accepted, ignored.")] = "",
    precision: Annotated[str, Query(description="ns, us, ms or s (default ns).")] = "",
) -> Response:
    """Store line protocol sent the 2.x way (`Authorization: Token <token>`)."""
    del org
    if not bucket:
        raise LineProtocolRejected("bucket is required", api="v2")
    if precision not in _V2_PRECISIONS:
        raise LineProtocolRejected(
            f"invalid precision {precision!r}: valid precisions are ns, us, ms and s", api="v2"
        )
    return await _write(request, caller, precision or "ns", "v2", "/api/v2/write")


async def _write(
    request: Request, caller: Caller, precision: str, api: str, route: str
) -> Response:
    components = caller.components
    settings = components.settings
    try:
        body = await read_body(
            request,
            max_bytes=settings.max_batch_bytes,
            max_decompressed_bytes=settings.max_decompressed_bytes,
        )
    except PayloadTooLarge:
        raise
    except BadRequest as exc:
        raise LineProtocolRejected(exc.message, api=api) from None
    try:
        if len(body) > _INLINE_PARSE_BYTES:
            # Big bodies are parsed in a worker thread so the event loop keeps serving.
            parsed = await asyncio.to_thread(_parse, body, precision, settings)
        else:
            parsed = _parse(body, precision, settings)
    except TooManyLines:
        raise PayloadTooLarge(
            f"more than {settings.max_batch_events} lines in one write; nothing was stored"
        ) from None
    outcome = await components.ingestor.log_line_points(parsed.points, caller.principal.identity)
    components.metrics.events_accepted(len(outcome.ids), route)
    texts = _line_texts(body, {number for number, _ in outcome.rejected})
    refused = parsed.errors + [
        LineError(number, texts.get(number, ""), reason) for number, reason in outcome.rejected
    ]
    if refused:
        components.metrics.events_rejected(len(refused), "invalid_line")
        raise LineProtocolRejected(_message(refused, written=len(outcome.ids)), api=api)
    return Response(status_code=204)


def _parse(body: bytes, precision: str, settings: Settings) -> ParseResult:
    return parse_lines(
        body,
        precision=precision,
        max_line_bytes=settings.max_line_bytes,
        max_lines=settings.max_batch_events,
    )


def _message(refused: list[LineError], *, written: int) -> str:
    """InfluxDB's wording, naming the first refused line (by number too) and the count."""
    first = min(refused, key=_line_number)
    text = f"{first.describe()} (line {first.line_number})"
    if len(refused) > 1:
        text += f"; {len(refused) - 1} more line(s) refused"
    if written:
        return f"partial write: {text} dropped={len(refused)}"
    return text


def _line_number(error: LineError) -> int:
    return error.line_number


def _line_texts(body: bytes, numbers: set[int]) -> dict[int, str]:
    """The texts of lines ``numbers`` of ``body``, shortened; one pass, on the error path."""
    if not numbers:
        return {}
    last = max(numbers)
    texts: dict[int, str] = {}
    for number, line in split_lines(body):
        if number in numbers:
            texts[number] = LineError.shown(line)
        if number >= last:
            break
    return texts
