"""The console as a :class:`~stats_service.api.component.Component`."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter

from stats_service.api.component import ComponentHealth
from stats_service.api.dependencies import Components
from stats_service.console.routes import build_router
from stats_service.settings import Settings

__all__ = ["ConsoleComponent", "build_console"]


class ConsoleComponent:
    """Serves ``/console``; it has no tasks of its own, so it is always healthy."""

    name = "console"

    def __init__(self, settings: Settings) -> None:
        self._router = build_router(
            summary_max_events=settings.console_summary_max_events,
            refresh_seconds=settings.console_refresh_seconds,
        )

    def routers(self) -> Sequence[APIRouter]:
        return (self._router,)

    async def start(self, core: Components) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def health(self) -> ComponentHealth:
        return ComponentHealth(ok=True)


def build_console(settings: Settings) -> ConsoleComponent | None:
    """The console for these settings, or None when ``console_enabled`` is false."""
    return ConsoleComponent(settings) if settings.console_enabled else None
