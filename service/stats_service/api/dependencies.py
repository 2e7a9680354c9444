"""Dependencies as ``Annotated`` aliases, so route signatures read like sentences.

Authentication is a dependency, never inline: ``Writer`` and ``Reader`` resolve
to the authenticated ``Caller`` (principal and components) or answer 401/403
before the body is read.
Every dependency is ``async def``: they do no blocking I/O, and FastAPI would
otherwise run each one in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from stats_service.auth import Authenticator, Principal
from stats_service.auth.credentials import token_from_credentials
from stats_service.ingest import Ingestor
from stats_service.observability import MetricsRecorder
from stats_service.settings import Settings
from stats_service.storage.base import EventStore

if TYPE_CHECKING:
    from stats_service.api.component import Component

__all__ = ["Admin", "Caller", "Components", "InfluxWriter", "Reader", "Runtime", "Store", "Writer"]


@dataclass(frozen=True, slots=True)
class Components:
    """What the lifespan builds and the routes use; kept on ``app.state.components``."""

    settings: Settings
    store: EventStore
    ingestor: Ingestor
    authenticator: Authenticator
    metrics: MetricsRecorder
    extensions: tuple[Component, ...] = ()
    """The started subsystems (see :mod:`stats_service.components`)."""


# Declares the header for OpenAPI ("Token <token>" or "Bearer <token>"); the
# authenticator parses it, so FastAPI's own check is off.
_authorization = APIKeyHeader(
    name="Authorization",
    scheme_name="Token",
    description="`Token <token>` (or `Bearer <token>`), from `stats-service token create`.",
    auto_error=False,
)


async def _components(request: Request) -> Components:
    components: Components = request.app.state.components
    return components


Runtime = Annotated[Components, Depends(_components)]


async def _store(components: Runtime) -> EventStore:
    return components.store


Store = Annotated[EventStore, Depends(_store)]


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request: who sent it, and the components to serve it with."""

    principal: Principal
    components: Components


def _caller_with(scope: str) -> object:
    # One dependency per route (FastAPI's dependency solving is a measurable
    # share of a small request): the header alias documents the scheme, the
    # components come straight from the app state.
    async def dependency(
        request: Request,
        authorization: Annotated[str | None, Depends(_authorization)],
    ) -> Caller:
        components: Components = request.app.state.components
        principal = components.authenticator.authenticate(authorization)
        Authenticator.require(principal, scope)
        return Caller(principal, components)

    return Depends(dependency)


Writer = Annotated[Caller, _caller_with("write")]
Reader = Annotated[Caller, _caller_with("read")]
Admin = Annotated[Caller, _caller_with("admin")]


async def _influx_writer(
    request: Request,
    authorization: Annotated[str | None, Depends(_authorization)],
) -> Caller:
    # The InfluxDB-compatible endpoints also take the token as Basic auth's
    # password or as the 1.x ``p`` query parameter (see ``auth.credentials``).
    components: Components = request.app.state.components
    token = token_from_credentials(authorization, request.query_params.get("p"))
    principal = components.authenticator.authenticate_token(token)
    Authenticator.require(principal, "write")
    return Caller(principal, components)


InfluxWriter = Annotated[Caller, Depends(_influx_writer)]
"""A caller with the ``write`` scope, by any of the credentials InfluxDB clients send."""
