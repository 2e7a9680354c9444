"""``/health/live`` and ``/health/ready``: probes for Kubernetes and load balancers."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from starlette.responses import Response

from stats_service.api.dependencies import Runtime
from stats_service.api.schemas import Health, Readiness

__all__ = ["router"]

router = APIRouter(prefix="/health", tags=["service"])


@router.get("/live", response_model=Health, summary="Liveness probe")
async def live() -> Health:
    """The process is up and serving; restart it only when this fails."""
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Readiness,
    summary="Readiness probe",
    responses={503: {"model": Readiness, "description": "Not ready: take out of rotation."}},
)
async def ready(runtime: Runtime) -> Response:
    """Ready to accept events: the store can make them durable now, and every
    subsystem is healthy."""
    health = await runtime.store.health()
    ok = health.ok
    components: dict[str, Any] | None = None
    if runtime.extensions:
        components = {}
        for extension in runtime.extensions:
            state = await extension.health()
            components[extension.name] = {"ok": state.ok, "detail": state.detail}
            ok = ok and state.ok
    body = Health(
        status="ok" if ok else "unavailable",
        storage={"backend": health.backend, "ok": health.ok, "detail": health.detail},
    ).model_dump()
    if components is not None:
        body["components"] = components
    return Response(
        content=orjson.dumps(body),
        status_code=200 if ok else 503,
        media_type="application/json",
    )
