"""``/`` and ``/ping``: liveness, version and the storage state, no authentication."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from stats_service import __version__
from stats_service.api.dependencies import Store
from stats_service.api.schemas import Ping
from stats_service.delivery.queue import DeliveryReporter

__all__ = ["router"]

router = APIRouter(tags=["service"])


@router.get("/", response_model=Ping, summary="Service name and version")
@router.get("/ping", response_model=Ping, summary="Liveness")
# Its own route, so that HEAD gets its own OpenAPI operation id.
@router.head("/ping", response_model=Ping, summary="Liveness (headers only)")
async def ping(store: Store) -> Ping:
    """Answers while the process serves requests; for monitors and load balancers.

    ``storage`` tells the backend and, behind the durable outbox, its state,
    backlog and dead letters (errors are left to the authenticated CLI and logs).
    """
    return Ping(
        status="ok", name="stats-service", version=__version__, storage=await _storage(store)
    )


async def _storage(store: Store) -> dict[str, Any]:
    if isinstance(store, DeliveryReporter):
        status = await store.status()
        return {
            "backend": status.backend,
            "state": status.state,
            "pending_events": status.pending_events,
            "oldest_pending_age_seconds": status.oldest_pending_age_seconds,
            "forward_rate_events_per_second": status.forward_rate_events_per_second,
            "dead_letters": status.dead_letters,
        }
    health = await store.health()
    return {"backend": health.backend, "state": "ok" if health.ok else "unavailable"}
