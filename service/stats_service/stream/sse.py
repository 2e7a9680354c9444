"""``GET /log/stream``: the live stream as Server-Sent Events.

Served by a plain ``StreamingResponse``: the frames are three fixed shapes
(:mod:`.frames`), so a dependency buys nothing, and the generator's
``finally`` is where a client's resources are freed when it goes (Starlette
cancels the generator on disconnect).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import StreamingResponse

from stats_service.api.dependencies import Reader
from stats_service.api.schemas import error_responses
from stats_service.errors import Gone
from stats_service.stream.filters import StreamFilter
from stats_service.stream.frames import (
    SSE_HEARTBEAT,
    SSE_OPEN,
    event_json,
    sse_error,
    sse_event,
)
from stats_service.stream.subscription import Ended, Subscription
from stats_service.stream.tailer import Tailer

__all__ = ["sse_router"]

_BURST_EVENTS = 255
_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def _frames(
    tailer: Tailer,
    subscription: Subscription,
    resume: str | None,
    heartbeat_seconds: float,
) -> AsyncIterator[bytes]:
    try:
        yield SSE_OPEN
        if resume is not None:
            try:
                start = await tailer.resume_from(resume, subscription)
            except Gone as exc:
                yield sse_error(exc.code, exc.message)
                return
            async for entry in tailer.replay(subscription, start):
                if entry.event is not None:
                    yield sse_event(entry.cursor or entry.event_id, event_json(entry.event))
        while True:
            item = await subscription.next(heartbeat_seconds)
            if item is None:
                yield SSE_HEARTBEAT
            elif isinstance(item, Ended):
                yield sse_error(item.reason, item.message)
                return
            else:
                # what else is buffered goes in the same write: one send for a burst
                burst = [item, *subscription.drain(_BURST_EVENTS)]
                yield b"".join(sse_event(ready.resume_id, ready.payload) for ready in burst)
    finally:
        tailer.unsubscribe(subscription)


def sse_router(tailer_of: Callable[[], Tailer], heartbeat_seconds: float) -> APIRouter:
    """The router of ``GET /log/stream``; ``tailer_of`` gives the running tailer (or 503)."""
    router = APIRouter(prefix="/log", tags=["stream"])

    @router.get(
        "/stream",
        summary="Follow stored events live (Server-Sent Events)",
        response_class=StreamingResponse,
        responses=error_responses(401, 403, 422, 429, 503),
    )
    async def stream_events(
        request: Request,
        caller: Reader,
        last_event_id: Annotated[
            str | None, Header(description="Resume after this event id (sent by EventSource).")
        ] = None,
        since_id: Annotated[
            str | None, Query(description="Resume after this event id (when no header is sent).")
        ] = None,
        event: Annotated[list[str] | None, Query(description="Only these event names.")] = None,
        uid: Annotated[list[str] | None, Query(description="Only these uids.")] = None,
        measurement: Annotated[
            list[str] | None, Query(description="Only these measurements.")
        ] = None,
    ) -> StreamingResponse:
        """Each event as `id: <event_id>` and `data: <the stored event's JSON>`, committed
        events only, in commit order; `event: error` ends the stream (`gone`,
        `slow_consumer`, `shutdown`); a comment line every heartbeat."""
        stream_filter = StreamFilter.parse(request.query_params.multi_items())
        del event, uid, measurement  # read above with their repeats; declared for OpenAPI
        resume = (last_event_id or since_id or "").strip() or None
        tailer = tailer_of()
        subscription = tailer.subscribe(caller.principal.identity, stream_filter)
        return StreamingResponse(
            _frames(tailer, subscription, resume, heartbeat_seconds),
            media_type="text/event-stream",
            headers=_HEADERS,
        )

    del stream_events  # registered on the router
    return router
