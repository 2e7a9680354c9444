"""The console's routes: its page and assets, and two read-only JSON endpoints.

* ``GET /console``: the single page (``index.html``); pages are ``#/overview`` and so on;
* ``GET /console/static/{path}``: its CSS and ES modules, read from package data once,
  when the router is built;
* ``GET /console/api/features``: which optional APIs this service has, by its OpenAPI
  document (the console hides the pages whose API is absent), the caller's scopes and
  the version (``read``);
* ``GET /console/api/summary``: the overview's numbers (:mod:`.summary`; ``read``).

Every route is a :class:`~stats_service.console.headers.SecuredRoute`.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Any, Final

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from stats_service import __version__
from stats_service.api.dependencies import Reader
from stats_service.api.schemas import error_responses
from stats_service.console.headers import SecuredRoute
from stats_service.console.summary import overview
from stats_service.errors import NotFound

__all__ = ["FEATURE_PATHS", "build_router"]

FEATURE_PATHS: Final = {
    "tokens": "/tokens",
    "stream": "/log/stream",
    "monitors": "/monitors",
}
"""Each optional page of the console and the API path whose presence turns it on."""

_MEDIA_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}


def _assets() -> dict[str, tuple[bytes, str]]:
    """Every file under ``static/``, by its path relative to it."""
    found: dict[str, tuple[bytes, str]] = {}
    pending = [("", resources.files("stats_service.console").joinpath("static"))]
    while pending:
        prefix, folder = pending.pop()
        for entry in folder.iterdir():
            name = f"{prefix}{entry.name}"
            if entry.is_dir():
                pending.append((f"{name}/", entry))
                continue
            suffix = name[name.rfind(".") :]
            if suffix in _MEDIA_TYPES:
                found[name] = (entry.read_bytes(), _MEDIA_TYPES[suffix])
    return found


def _under(found: str, path: str) -> bool:
    return found == path or found.startswith(f"{path}/")


def _json(content: Any) -> Response:
    return Response(
        content=orjson.dumps(content),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def build_router(*, summary_max_events: int, refresh_seconds: float) -> APIRouter:
    """The console's router; its assets are read now."""
    assets = _assets()
    index, _ = assets["index.html"]
    router = APIRouter(prefix="/console", tags=["console"], route_class=SecuredRoute)

    @router.get("", include_in_schema=False)
    async def page() -> Response:
        return Response(
            content=index, media_type=_MEDIA_TYPES[".html"], headers={"Cache-Control": "no-cache"}
        )

    @router.get("/static/{path:path}", include_in_schema=False)
    async def asset(path: str) -> Response:
        found = assets.get(path)
        if found is None:
            raise NotFound("no such console file")
        content, media_type = found
        return Response(
            content=content, media_type=media_type, headers={"Cache-Control": "no-cache"}
        )

    @router.get(
        "/api/features", summary="What the console can show", responses=error_responses(401, 403)
    )
    async def features(request: Request, caller: Reader) -> Response:
        """Which optional APIs exist here, the caller's identity and scopes, the version."""
        paths = request.app.openapi()["paths"]  # built once, then cached by FastAPI
        return _json(
            {
                "version": __version__,
                "identity": caller.principal.identity,
                "scopes": sorted(caller.principal.scopes),
                "refresh_seconds": refresh_seconds,
                "features": {
                    name: any(_under(found, path) for found in paths)
                    for name, path in FEATURE_PATHS.items()
                },
            }
        )

    @router.get(
        "/api/summary",
        summary="The console overview's numbers",
        responses=error_responses(401, 403),
    )
    async def summary(caller: Reader) -> Response:
        """Events stored per minute over the last hour, events by type, storage and delivery."""
        components = caller.components
        return _json(
            await overview(
                components.store,
                now_ns=time.time_ns(),
                max_events=summary_max_events,
                page_size=components.settings.max_page_size,
            )
        )

    @router.get("/{path:path}", include_in_schema=False)
    async def elsewhere(path: str) -> Response:
        raise NotFound("no such console page; the console is at /console")

    return router
