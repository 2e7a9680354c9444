"""The subsystems the service runs: add one line here to plug a new one in.

See :mod:`stats_service.components` for what a line holds. The core (store,
delivery, ingest, API) is built by ``create_app`` itself.
"""

from __future__ import annotations

from stats_service.components import ComponentSpec
from stats_service.console import build_console

__all__ = ["SUBSYSTEMS"]

SUBSYSTEMS: tuple[ComponentSpec, ...] = (ComponentSpec(name="console", build=build_console),)
"""Every subsystem, in start order."""
