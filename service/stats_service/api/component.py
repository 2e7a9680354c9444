"""What a pluggable subsystem looks like to the application: a :class:`Component`.

A component contributes routers (included when the app is built), is started
after the core parts (store, authenticator, ingestor) are open and stopped
before they close, and reports its health, which ``/health/ready`` requires.
:mod:`stats_service.components` says how one is registered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from fastapi import APIRouter

from stats_service.api.dependencies import Components

__all__ = ["Component", "ComponentHealth"]


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    """Whether a component can do its work now, and why not."""

    ok: bool
    detail: str = ""


class Component(Protocol):
    """A subsystem with a lifetime inside the application's (export, monitors, a stream...)."""

    @property
    def name(self) -> str:
        """A short, unique name (``export``); shown by the readiness probe."""
        ...

    def routers(self) -> Sequence[APIRouter]:
        """The routes it serves; included once, when the app is built."""
        ...

    async def start(self, core: Components) -> None:
        """Start (tasks, connections); ``core`` holds the store, ingestor and the rest."""
        ...

    async def stop(self) -> None:
        """Stop everything ``start`` began, within its own time limit."""
        ...

    async def health(self) -> ComponentHealth:
        """Whether it works now; the service is not ready while a component is not."""
        ...
