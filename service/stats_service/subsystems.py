"""The subsystems the service runs: add one line here to plug a new one in.

See :mod:`stats_service.components` for what a line holds. The core (store,
delivery, ingest, API) is built by ``create_app`` itself.
"""

from __future__ import annotations

from stats_service.components import ComponentSpec
from stats_service.stream import build_stream

__all__ = ["SUBSYSTEMS"]

SUBSYSTEMS: tuple[ComponentSpec, ...] = (ComponentSpec("stream", build=build_stream),)
"""Every subsystem, in start order."""
