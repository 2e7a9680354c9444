"""The baseline of the single-event benchmark: a bare FastAPI app with one POST route.

It takes a small pydantic model and answers a fresh id, with no auth and no
storage: the cost of FastAPI's generic validation and serialisation alone.
Serve it with ``uvicorn --factory benchmarks.baseline_app:create_app``.
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from pydantic import BaseModel

__all__ = ["BaselineEvent", "create_app"]


class BaselineEvent(BaseModel):
    """The benchmark's event body: name, user id and two data values."""

    event: str
    uid: str
    path: str | None = None
    duration_ms: int | None = None


def create_app() -> FastAPI:
    """A fresh app with ``POST /log/event`` answering ``"entry_<hex>"``."""
    app = FastAPI(title="baseline")

    @app.post("/log/event")
    async def log_event(body: BaselineEvent) -> str:
        del body  # validated and dropped: the baseline stores nothing
        return "entry_" + uuid.uuid4().hex

    return app
