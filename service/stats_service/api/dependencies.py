"""Dependencies as ``Annotated`` aliases, so route signatures read like sentences.

Authentication is a dependency, never inline: ``Writer`` and ``Reader`` resolve
to the authenticated ``Principal`` or answer 401/403 before the body is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from stats_service.auth import Authenticator, Principal
from stats_service.ingest import Ingestor
from stats_service.settings import Settings
from stats_service.storage.base import EventStore

__all__ = ["Components", "Ingest", "Reader", "Runtime", "Store", "Writer"]


@dataclass(frozen=True, slots=True)
class Components:
    """What the lifespan builds and the routes use; kept on ``app.state.components``."""

    settings: Settings
    store: EventStore
    ingestor: Ingestor
    authenticator: Authenticator


# Declares the header for OpenAPI ("Token <token>" or "Bearer <token>"); the
# authenticator parses it, so FastAPI's own check is off.
_authorization = APIKeyHeader(
    name="Authorization",
    scheme_name="Token",
    description="`Token <token>` (or `Bearer <token>`), from `stats-service token create`.",
    auto_error=False,
)


def _components(request: Request) -> Components:
    components: Components = request.app.state.components
    return components


Runtime = Annotated[Components, Depends(_components)]


def _store(components: Runtime) -> EventStore:
    return components.store


def _ingestor(components: Runtime) -> Ingestor:
    return components.ingestor


Store = Annotated[EventStore, Depends(_store)]
Ingest = Annotated[Ingestor, Depends(_ingestor)]


def _principal_with(scope: str) -> object:
    def dependency(
        components: Runtime,
        authorization: Annotated[str | None, Depends(_authorization)],
    ) -> Principal:
        principal = components.authenticator.authenticate(authorization)
        Authenticator.require(principal, scope)
        return principal

    return Depends(dependency)


Writer = Annotated[Principal, _principal_with("write")]
Reader = Annotated[Principal, _principal_with("read")]
