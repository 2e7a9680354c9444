"""The subsystems the service runs: add one line here to plug a new one in.

See :mod:`stats_service.components` for what a line holds. The core (store,
delivery, ingest, API) is built by ``create_app`` itself.
"""

from __future__ import annotations

from stats_service.api.component import Component
from stats_service.components import ComponentSpec
from stats_service.console import build_console
from stats_service.export.cli import register as register_export_commands
from stats_service.monitors import MonitorsComponent
from stats_service.monitors.cli import register_monitor_commands
from stats_service.settings import Settings
from stats_service.stream import build_stream

__all__ = ["SUBSYSTEMS"]


def _monitors(settings: Settings) -> MonitorsComponent | None:
    return MonitorsComponent(settings) if settings.monitors_enabled else None


def _commands_only(settings: Settings) -> Component | None:
    # Export runs from the command line (cron, a CronJob); the service hosts nothing of it.
    return None


SUBSYSTEMS: tuple[ComponentSpec, ...] = (
    ComponentSpec("stream", build=build_stream),
    ComponentSpec("monitors", build=_monitors, add_commands=register_monitor_commands),
    ComponentSpec(
        "export",
        build=_commands_only,
        add_commands=lambda commands, parents: register_export_commands(commands, parents[0]),
    ),
    ComponentSpec("console", build=build_console),
)
"""Every subsystem, in start order."""
