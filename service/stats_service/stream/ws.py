"""``GET /log/ws``: the live stream over a WebSocket.

Authentication: the ``Authorization`` header, as everywhere. Browsers cannot
set headers on a WebSocket, so without the header the first message must be
``{"token": "<token>"}`` (within ``stream_ws_auth_timeout_seconds``); a token
never goes in the URL. A refused connection gets one ``{"error": {...}}``
message and the close code ``4000 + status`` (4401, 4403, 4410, 4422, 4429).
``since_id`` resumes after an event id, as ``Last-Event-ID`` does on SSE.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from stats_service.api.dependencies import Components
from stats_service.api.errors import error_body
from stats_service.auth import Authenticator, Principal
from stats_service.errors import StatsServiceError, Unauthorized
from stats_service.stream.config import StreamConfig
from stats_service.stream.filters import StreamFilter
from stats_service.stream.frames import WS_HEARTBEAT, event_json
from stats_service.stream.subscription import Ended, Subscription
from stats_service.stream.tailer import Tailer

__all__ = ["ws_router"]

_CLOSE_BASE = 4000
_SHUTDOWN_CODE = 1001  # going away
_SLOW_CODE = 1008  # policy violation


async def _close_with(websocket: WebSocket, exc: StatsServiceError) -> None:
    await websocket.send_text(error_body(exc.code, exc.message, exc.details).decode())
    await websocket.close(code=_CLOSE_BASE + exc.status_code)


async def _token_message(websocket: WebSocket, timeout_seconds: float) -> str:
    try:
        text = await asyncio.wait_for(websocket.receive_text(), timeout_seconds)
    except TimeoutError:
        raise Unauthorized("no Authorization header and no token message in time") from None
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise Unauthorized('the first message must be {"token": "<token>"}') from None
    token = message.get("token") if isinstance(message, dict) else None
    if not isinstance(token, str) or not token:
        raise Unauthorized('the first message must be {"token": "<token>"}')
    return token


async def _authenticate(
    websocket: WebSocket, core: Components, timeout_seconds: float
) -> Principal:
    header = websocket.headers.get("authorization")
    if header is not None:
        principal = core.authenticator.authenticate(header)
    else:
        token = await _token_message(websocket, timeout_seconds)
        principal = core.authenticator.authenticate_token(token)
    Authenticator.require(principal, "read")
    return principal


async def _send(
    websocket: WebSocket,
    tailer: Tailer,
    subscription: Subscription,
    resume: str | None,
    heartbeat_seconds: float,
) -> None:
    if resume is not None:
        start = await tailer.resume_from(resume, subscription)
        async for entry in tailer.replay(subscription, start):
            if entry.event is not None:
                await websocket.send_text(event_json(entry.event).decode())
    while True:
        item = await subscription.next(heartbeat_seconds)
        if item is None:
            await websocket.send_text(WS_HEARTBEAT)
        elif isinstance(item, Ended):
            await websocket.send_text(error_body(item.reason, item.message).decode())
            code = _SHUTDOWN_CODE if item.reason == "shutdown" else _SLOW_CODE
            await websocket.close(code=code)
            return
        else:
            await websocket.send_text(item.payload.decode())


async def _until_gone(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()


def ws_router(tailer_of: Callable[[], Tailer], config: StreamConfig) -> APIRouter:
    """The router of ``GET /log/ws``; ``tailer_of`` gives the running tailer (or 503)."""
    router = APIRouter(prefix="/log", tags=["stream"])

    @router.websocket("/ws")
    async def stream_socket(websocket: WebSocket) -> None:
        core: Components = websocket.app.state.components
        await websocket.accept()
        try:
            principal = await _authenticate(websocket, core, config.ws_auth_timeout_seconds)
            stream_filter = StreamFilter.parse(websocket.query_params.multi_items())
            resume = (websocket.query_params.get("since_id") or "").strip() or None
            tailer = tailer_of()
            subscription = tailer.subscribe(principal.identity, stream_filter)
        except WebSocketDisconnect:
            return
        except StatsServiceError as exc:
            core.metrics.observe_error("GET", "/log/ws", exc)
            await _close_with(websocket, exc)
            return
        sender = asyncio.create_task(
            _send(websocket, tailer, subscription, resume, config.heartbeat_seconds)
        )
        receiver = asyncio.create_task(_until_gone(websocket))
        try:
            done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if sender in done and sender.exception() is not None:
                error = sender.exception()
                if isinstance(error, StatsServiceError):
                    await _close_with(websocket, error)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            for task in (sender, receiver):
                task.cancel()
            for task in (sender, receiver):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            tailer.unsubscribe(subscription)

    del stream_socket  # registered on the router
    return router
