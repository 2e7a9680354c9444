"""Stand-ins for the stream and monitors subsystems, shaped like their documented APIs.

They let the console's live tail and monitors pages be driven in a browser before the
real subsystems exist: ``GET /log/stream`` (Server-Sent Events, ``id`` = event id, the
stored event's JSON as data, heartbeats, ``Last-Event-ID`` resumes) and ``/monitors``
(list, status, rollups, pause/resume/run). Each is a real
:class:`~stats_service.api.component.Component` served by a real uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response, StreamingResponse

from stats_service.api.component import ComponentHealth
from stats_service.api.dependencies import Admin, Components, Reader

__all__ = ["FakeMonitors", "FakeStream", "serve_in_thread"]


class _Plain:
    name = ""

    def __init__(self) -> None:
        self.router = APIRouter()

    def routers(self) -> Sequence[APIRouter]:
        return (self.router,)

    async def start(self, core: Components) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def health(self) -> ComponentHealth:
        return ComponentHealth(ok=True)


class FakeStream(_Plain):
    """Streams ``messages`` (stored-event dicts) after the ``Last-Event-ID``, then beats."""

    name = "stream"

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        super().__init__()
        self.messages = messages
        self.resumed_from: list[str | None] = []
        self.router.add_api_route("/log/stream", self._stream, methods=["GET"])

    async def _stream(self, request: Request, caller: Reader) -> Response:
        last = request.headers.get("last-event-id")
        self.resumed_from.append(last)
        ids = [message["event_id"] for message in self.messages]
        start = ids.index(last) + 1 if last in ids else 0
        wanted = request.query_params.getlist("event")

        async def body() -> AsyncIterator[bytes]:
            for message in self.messages[start:]:
                if wanted and message.get("event") not in wanted:
                    continue
                yield f"id: {message['event_id']}\ndata: {json.dumps(message)}\n\n".encode()
            deadline = time.monotonic() + 20  # bounded: a test never waits on it longer
            while time.monotonic() < deadline and not await request.is_disconnected():
                yield b": heartbeat\n\n"
                await asyncio.sleep(0.2)

        return StreamingResponse(body(), media_type="text/event-stream")


class FakeMonitors(_Plain):
    """One monitor; records the actions it is asked for."""

    name = "monitors"

    def __init__(self, monitor: dict[str, Any]) -> None:
        super().__init__()
        self.monitor = monitor
        self.actions: list[str] = []
        self.router.add_api_route("/monitors", self._list, methods=["GET"])
        self.router.add_api_route("/monitors/{monitor_id}/status", self._status, methods=["GET"])
        self.router.add_api_route("/monitors/{monitor_id}/rollups", self._rollups, methods=["GET"])
        for action in ("pause", "resume", "run"):
            self.router.add_api_route(
                f"/monitors/{{monitor_id}}/{action}", self._action(action), methods=["POST"]
            )

    async def _list(self, caller: Reader) -> dict[str, Any]:
        return {"monitors": [self.monitor]}

    async def _status(self, monitor_id: str, caller: Reader) -> dict[str, Any]:
        figures = {"checks": 200, "uptime_percent": 99.5, "p50_ms": 12, "p95_ms": 40, "p99_ms": 80}
        return {"up": True, "windows": {"24h": figures, "7d": figures, "30d": figures}}

    async def _rollups(self, monitor_id: str, caller: Reader) -> dict[str, Any]:
        return {"rollups": [{"p95_ms": 10 + i} for i in range(30)]}

    def _action(self, action: str) -> Any:
        async def act(monitor_id: str, caller: Admin) -> dict[str, str]:
            self.actions.append(action)
            self.monitor["state"] = {"pause": "paused", "resume": "active"}.get(
                action, self.monitor["state"]
            )
            return {"state": self.monitor["state"]}

        return act


@contextmanager
def serve_in_thread(app: FastAPI, port: int) -> Iterator[str]:
    """Serve ``app`` with a real uvicorn on 127.0.0.1:``port`` in a thread; yields its URL."""
    server = uvicorn.Server(
        # No log_config or log_level: uvicorn must not reconfigure the test process's logging.
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
