"""The component seam: how a subsystem plugs into the service in one place.

A subsystem is one :class:`ComponentSpec` in
:data:`stats_service.subsystems.SUBSYSTEMS`::

    ComponentSpec(
        name="export",
        build=lambda settings: ExportComponent(settings) if settings.export_enabled else None,
        add_commands=add_export_commands,  # optional
    )

* **settings**: its fields go into the one flat ``Settings`` with a common
  prefix (``export_*``); ``build`` reads them, e.g. into a typed view of its own;
* **lifetime, routes, health**: ``build`` returns a
  :class:`~stats_service.api.component.Component` (or None when switched
  off); ``create_app`` includes its routers, starts it after the core parts
  are open (in list order), stops it before they close (in reverse order),
  and ``/health/ready`` answers 503 while its health is not ok;
* **command line**: ``add_commands(commands, parents)`` adds subcommands to
  ``stats-service`` (``commands`` is the subparsers object, ``parents`` the
  parsers that carry ``--config``); each sets ``command=function(settings, args)``
  as the built-in commands do.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stats_service.api.component import Component
from stats_service.settings import Settings

__all__ = ["AddCommands", "ComponentSpec"]

AddCommands = Callable[["argparse._SubParsersAction[Any]", list[argparse.ArgumentParser]], None]
"""Adds a subsystem's subcommands: ``(commands, parents)``."""


@dataclass(frozen=True, slots=True)
class ComponentSpec:
    """One subsystem: its name, how settings make its component, its commands."""

    name: str
    build: Callable[[Settings], Component | None]
    """The component for these settings, or None when the subsystem is off."""
    add_commands: AddCommands | None = None
    """Adds its ``stats-service`` subcommands, if it has any."""

    def component(self, settings: Settings) -> Component | None:
        """The component of these settings (None: off); its name must be the spec's."""
        component = self.build(settings)
        if component is not None and component.name != self.name:
            raise ValueError(f"component {component.name!r} built by spec {self.name!r}")
        return component
