"""``/health/live`` and ``/health/ready``: probes for Kubernetes and load balancers."""

from __future__ import annotations

import orjson
from fastapi import APIRouter
from starlette.responses import Response

from stats_service.api.dependencies import Store
from stats_service.api.schemas import Health

__all__ = ["router"]

router = APIRouter(prefix="/health", tags=["service"])


@router.get("/live", response_model=Health, summary="Liveness probe")
async def live() -> Health:
    """The process is up and serving; restart it only when this fails."""
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Health,
    summary="Readiness probe",
    responses={503: {"model": Health, "description": "Not ready: take out of rotation."}},
)
async def ready(store: Store) -> Response:
    """Ready to accept events: the store can make them durable now."""
    health = await store.health()
    body = Health(
        status="ok" if health.ok else "unavailable",
        storage={"backend": health.backend, "ok": health.ok, "detail": health.detail},
    )
    return Response(
        content=orjson.dumps(body.model_dump()),
        status_code=200 if health.ok else 503,
        media_type="application/json",
    )
