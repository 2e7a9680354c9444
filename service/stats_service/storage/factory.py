"""Builds the configured storage backend from settings (configuration only)."""

from __future__ import annotations

from stats_service.settings import Settings
from stats_service.storage.base import EventStore

__all__ = ["build_store"]


def build_store(settings: Settings) -> EventStore:
    """The backend ``settings.storage_backend`` names."""
    backend = settings.storage_backend
    if backend == "memory":
        from stats_service.storage.memory import MemoryStore  # noqa: PLC0415 - load only what is used

        return MemoryStore()
    if backend == "embedded":
        from stats_service.storage.embedded import EmbeddedStore  # noqa: PLC0415

        return EmbeddedStore(settings.data_dir / "events.sqlite3")
    raise NotImplementedError(f"storage backend {backend!r} is not wired yet")
