"""``/monitors``: manage monitors, run them, read their results, rollups and status.

Changing anything needs the ``admin`` scope, reading needs ``read``. Errors
are raised as service errors and shaped by the one error mapping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response

from stats_service.api.cursor import decode_cursor, encode_cursor
from stats_service.api.dependencies import Admin, Reader
from stats_service.api.schemas import error_responses
from stats_service.errors import InvalidEvent, InvalidInput
from stats_service.events.model import parse_time
from stats_service.monitors.model import MonitorPatch, MonitorSpec
from stats_service.monitors.service import MonitorService
from stats_service.monitors.store import time_key

__all__ = ["build_router"]

_MAX_PAGE = 1000
_FAR_FUTURE = 9_000_000_000.0
_TimeParam = Annotated[
    str | None, Query(description="ISO 8601 or Unix seconds; `since` included, `until` excluded.")
]


def _json(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")


def _edge(value: str | None, key: str, default: float) -> float:
    if value is None or value == "":
        return default
    parsed: object
    try:
        parsed = float(value)
    except ValueError:
        parsed = value
    try:
        return parse_time(parsed, key=key) / 1e9
    except InvalidEvent as exc:
        raise InvalidInput(exc.message, details={"key": key}) from None


def _window(since: str | None, until: str | None) -> tuple[float, float]:
    low, high = _edge(since, "since", 0.0), _edge(until, "until", _FAR_FUTURE)
    if high < low:
        raise InvalidInput("until is before since", details={"key": "until"})
    return low, high


def build_router(service: Callable[[], MonitorService]) -> APIRouter:
    """The ``/monitors`` routes, serving whatever ``service()`` returns at request time."""
    router = APIRouter(prefix="/monitors", tags=["monitors"])
    reads = error_responses(401, 403, 404, 422)
    writes = error_responses(400, 401, 403, 404, 409, 422)

    @router.post("", status_code=201, summary="Create a monitor", responses=writes)
    async def create_monitor(spec: MonitorSpec, _: Admin) -> Response:
        """Store a monitor and start checking it; 409 when the name is taken."""
        monitor = await service().create(spec)
        return _json(monitor.public(), 201)

    @router.get("", summary="List monitors", responses=reads)
    async def list_monitors(
        _: Reader,
        state: Annotated[
            Literal["active", "paused", "pending", "up", "down"] | None,
            Query(description="Only monitors in this state."),
        ] = None,
        tag: Annotated[str | None, Query(description="Only monitors with this tag.")] = None,
    ) -> Response:
        """Every monitor with its current state."""
        return _json({"monitors": await service().listing(state=state, tag=tag)})

    @router.get("/{monitor_id}", summary="One monitor", responses=reads)
    async def get_monitor(monitor_id: str, _: Reader) -> Response:
        """The monitor's definition (credentials in headers redacted)."""
        return _json((await service().get(monitor_id)).public())

    @router.patch("/{monitor_id}", summary="Change a monitor", responses=writes)
    async def patch_monitor(monitor_id: str, patch: MonitorPatch, _: Admin) -> Response:
        """Change some fields; the result must still be a valid monitor."""
        return _json((await service().update(monitor_id, patch)).public())

    @router.delete("/{monitor_id}", status_code=204, summary="Delete a monitor", responses=writes)
    async def delete_monitor(monitor_id: str, _: Admin) -> Response:
        """Remove the monitor with its results and rollups."""
        await service().delete(monitor_id)
        return Response(status_code=204)

    @router.post("/{monitor_id}/pause", summary="Pause a monitor", responses=writes)
    async def pause_monitor(monitor_id: str, _: Admin) -> Response:
        """Stop checking; pausing a paused monitor changes nothing."""
        return _json((await service().set_paused(monitor_id, True)).public())

    @router.post("/{monitor_id}/resume", summary="Resume a monitor", responses=writes)
    async def resume_monitor(monitor_id: str, _: Admin) -> Response:
        """Check again; resuming an active monitor changes nothing."""
        return _json((await service().set_paused(monitor_id, False)).public())

    @router.post("/{monitor_id}/run", summary="Check a monitor now", responses=writes)
    async def run_monitor(monitor_id: str, _: Admin) -> Response:
        """Run one check at once and answer its result (also recorded)."""
        return _json((await service().run_now(monitor_id)).public())

    @router.get("/{monitor_id}/results", summary="Raw results", responses=reads)
    async def monitor_results(
        monitor_id: str,
        _: Reader,
        since: _TimeParam = None,
        until: _TimeParam = None,
        limit: Annotated[int, Query(ge=1, le=_MAX_PAGE, description="Page size.")] = 100,
        cursor: Annotated[str | None, Query(description="`next_cursor` of the last page.")] = None,
    ) -> Response:
        """Results with `since <= time < until`, oldest first, one page at a time."""
        low, high = _window(since, until)
        after = None if cursor is None else decode_cursor(cursor)
        found = await service().results(
            monitor_id, since=low, until=high, limit=limit + 1, after=after
        )
        page = found[:limit]
        more = len(found) > limit
        return _json(
            {
                "results": [result.public() for result in page],
                "next_cursor": encode_cursor(time_key(page[-1])) if more else None,
            }
        )

    @router.get("/{monitor_id}/rollups", summary="Minute or hour rollups", responses=reads)
    async def monitor_rollups(
        monitor_id: str,
        _: Reader,
        granularity: Annotated[Literal["minute", "hour"], Query()] = "minute",
        since: _TimeParam = None,
        until: _TimeParam = None,
    ) -> Response:
        """Rows whose bucket starts within `[since, until)`, oldest first."""
        low, high = _window(since, until)
        rows = await service().rollups(monitor_id, granularity, since=low, until=high)
        return _json({"granularity": granularity, "rollups": [row.public() for row in rows]})

    @router.get("/{monitor_id}/status", summary="Up or down, uptime, latency", responses=reads)
    async def monitor_status(monitor_id: str, _: Reader) -> Response:
        """State, since when, last result; uptime % and p50/p95/p99 over 24 h, 7 d, 30 d."""
        return _json(await service().status(monitor_id))

    return router
