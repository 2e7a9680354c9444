"""``/`` and ``/ping``: liveness and version, no authentication."""

from __future__ import annotations

from fastapi import APIRouter

from stats_service import __version__
from stats_service.api.schemas import Ping

__all__ = ["router"]

router = APIRouter(tags=["service"])

_PING = Ping(status="ok", name="stats-service", version=__version__)


@router.get("/", response_model=Ping, summary="Service name and version")
@router.api_route("/ping", methods=["GET", "HEAD"], response_model=Ping, summary="Liveness")
async def ping() -> Ping:
    """Answers while the process serves requests; for monitors and load balancers."""
    return _PING
