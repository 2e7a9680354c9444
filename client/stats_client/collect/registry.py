"""Sources written in Python: ``@register_metric``, ``@enable_delta_metric``, and a registry.

A source is a :class:`PythonSource` subclass registered under a name, either
with the ``@register_source("name")`` class decorator or through the entry
point group ``stats_client.collectors`` (``name = "package.module:Class"``),
so adding a source never means editing a factory::

    @register_source("tracker")
    class Tracker(PythonSource):
        def refresh(self) -> None:
            self.answer = self.get_json(self.options["url"])

        @register_metric("incidents", help="Incidents ever opened, per team", labels=("team",))
        @enable_delta_metric
        def incidents(self) -> list[dict[str, object]]:
            return [{"team": t["name"], "metric_value": t["total"]} for t in self.answer["teams"]]

A metric method returns a number, or (with labels) a list of dicts holding
every label and a ``metric_value``. A method that takes ``since`` and
``until`` is a time-window collector: the runner calls it with half-open,
timezone-aware windows and keeps a watermark (see ``windows``).
"""

from __future__ import annotations

import importlib.metadata
import inspect
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from stats_client.collect.errors import RegistryError
from stats_client.collect.http import Fetcher, HttpRequest
from stats_client.collect.model import (
    METRIC_TYPES,
    SOURCE_NAME_RE,
    MetricDef,
    MetricType,
    check_label_name,
    check_metric_name,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "REGISTRY",
    "PythonMetric",
    "PythonSource",
    "SourceRegistry",
    "enable_delta_metric",
    "register_metric",
    "register_source",
]

ENTRY_POINT_GROUP = "stats_client.collectors"
_F = TypeVar("_F", bound=Callable[..., Any])
_C = TypeVar("_C", bound=type["PythonSource"])
_METRIC_ATTR = "__collect_metric__"
_DELTA_ATTR = "__collect_delta__"


@dataclass(frozen=True, slots=True)
class _MetricMark:
    name: str
    type: MetricType | None
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] | None


def register_metric(
    name: str,
    *,
    type: MetricType | None = None,
    help: str = "",
    labels: tuple[str, ...] | list[str] = (),
    buckets: tuple[float, ...] | list[float] | None = None,
) -> Callable[[_F], _F]:
    """Publish the decorated method's result as metric ``name``.

    ``type`` defaults to ``counter`` for a delta metric and ``gauge`` otherwise.
    """
    if (problem := check_metric_name(name)) is not None:
        raise RegistryError(f"metric {name!r}: {problem}")
    if type is not None and type not in METRIC_TYPES:
        raise RegistryError(f"metric {name!r}: type must be one of {', '.join(METRIC_TYPES)}")
    for label in labels:
        if (problem := check_label_name(label)) is not None:
            raise RegistryError(f"metric {name!r}: {problem}")
    mark = _MetricMark(
        name,
        type,
        help or name.replace("_", " "),
        tuple(labels),
        None if buckets is None else tuple(float(b) for b in buckets),
    )

    def decorate(func: _F) -> _F:
        setattr(func, _METRIC_ATTR, mark)
        return func

    return decorate


def enable_delta_metric(func: _F) -> _F:
    """Mark a metric whose value is an upstream running total (works with labels too).

    Prometheus gets the total as a counter; stats-service gets the increase
    since the previous poll, with counter resets detected.
    """
    setattr(func, _DELTA_ATTR, True)
    return func


@dataclass(frozen=True, slots=True)
class PythonMetric:
    """One registered metric method of a source class."""

    metric: MetricDef
    method: str
    windowed: bool


def _metrics_of(cls: type[PythonSource]) -> tuple[PythonMetric, ...]:
    found: dict[str, PythonMetric] = {}
    for attr in dir(cls):
        func = getattr(cls, attr, None)
        mark = getattr(func, _METRIC_ATTR, None)
        if not isinstance(mark, _MetricMark) or func is None:
            continue
        delta = bool(getattr(func, _DELTA_ATTR, False))
        kind: MetricType = mark.type or ("counter" if delta else "gauge")
        if delta and kind != "counter":
            raise RegistryError(f"{cls.__name__}.{attr}: only a counter can be a delta metric")
        if mark.buckets is not None and kind != "histogram":
            raise RegistryError(f"{cls.__name__}.{attr}: only a histogram has buckets")
        if mark.name in found:
            raise RegistryError(f"{cls.__name__}: metric {mark.name!r} is registered twice")
        parameters = inspect.signature(func).parameters
        windowed = "since" in parameters and "until" in parameters
        metric = MetricDef(mark.name, kind, mark.help, mark.labels, mark.buckets, delta)
        found[mark.name] = PythonMetric(metric, attr, windowed)
    if not found:
        raise RegistryError(f"{cls.__name__} has no @register_metric methods")
    return tuple(found[name] for name in sorted(found))


class PythonSource:
    """Base of Python sources; one instance per configured source, reused for every poll.

    ``options`` come from the config file; ``get_json`` fetches through the
    runner's HTTP client with the source's timeout. ``refresh()`` runs once
    at the start of each poll, before the metric methods.
    """

    source_name: ClassVar[str] = ""
    """The name it was registered under."""
    interval_seconds: ClassVar[float] = 60.0
    """Default poll interval when the config file does not say."""

    def __init__(
        self, *, options: Mapping[str, Any], fetcher: Fetcher, timeout_seconds: float
    ) -> None:
        self.options = dict(options)
        self._fetcher = fetcher
        self._timeout_seconds = timeout_seconds

    def get_json(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> Any:
        """The JSON answer of ``url``; a failure raises PollError (counted by reason)."""
        request = HttpRequest(method, url, dict(headers or {}), body, self._timeout_seconds)
        return self._fetcher.fetch_json(request)

    def refresh(self) -> None:
        """Called at the start of every poll; fetch what the metric methods read here."""

    @classmethod
    def collect_metrics(cls) -> tuple[PythonMetric, ...]:
        """The class's registered metrics (RegistryError when malformed)."""
        return _metrics_of(cls)


class SourceRegistry:
    """Source classes by name: registered ones, then entry points of ``stats_client.collectors``."""

    def __init__(self, *, entry_point_group: str | None = ENTRY_POINT_GROUP) -> None:
        self._classes: dict[str, type[PythonSource]] = {}
        self._group = entry_point_group
        self._lock = threading.Lock()

    def add(self, name: str, cls: type[PythonSource]) -> None:
        """Register ``cls`` as ``name``; another class under the same name is an error."""
        if not isinstance(name, str) or not SOURCE_NAME_RE.match(name):
            raise RegistryError(f"source name {name!r} must match [A-Za-z][A-Za-z0-9_-]{{0,63}}")
        if not (isinstance(cls, type) and issubclass(cls, PythonSource)):
            raise RegistryError(f"source {name!r}: {cls!r} is not a PythonSource subclass")
        cls.collect_metrics()
        with self._lock:
            existing = self._classes.get(name)
            if existing is not None and existing is not cls:
                raise RegistryError(
                    f"source {name!r} is already registered by {existing.__qualname__}"
                )
            self._classes[name] = cls

    def get(self, name: str) -> type[PythonSource]:
        """The class registered as ``name`` (entry points are looked at when needed)."""
        with self._lock:
            found = self._classes.get(name)
        if found is not None:
            return found
        for entry_point in self._entry_points():
            if entry_point.name == name:
                try:
                    loaded = entry_point.load()
                except Exception as exc:  # a broken plug-in is a registry problem, not a crash
                    raise RegistryError(
                        f"entry point {name!r} ({entry_point.value}) failed to load: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                if isinstance(loaded, type) and issubclass(loaded, PythonSource):
                    self.add(name, loaded)
                with self._lock:
                    if name in self._classes:
                        return self._classes[name]
                raise RegistryError(f"entry point {name!r} did not provide a PythonSource")
        known = ", ".join(self.names()) or "none"
        raise RegistryError(f"no Python source named {name!r} (known: {known})")

    def names(self) -> list[str]:
        """Every name known, registered or advertised by an entry point."""
        with self._lock:
            names = set(self._classes)
        names.update(ep.name for ep in self._entry_points())
        return sorted(names)

    def _entry_points(self) -> Iterator[importlib.metadata.EntryPoint]:
        if self._group is None:
            return iter(())
        return iter(importlib.metadata.entry_points(group=self._group))

    def remove(self, name: str) -> None:
        """Forget ``name`` (for tests)."""
        with self._lock:
            self._classes.pop(name, None)


REGISTRY = SourceRegistry()
"""The process-wide registry ``@register_source`` adds to and the CLI reads."""


def register_source(name: str, *, registry: SourceRegistry | None = None) -> Callable[[_C], _C]:
    """Class decorator: register a PythonSource subclass under ``name``."""

    def decorate(cls: _C) -> _C:
        cls.source_name = name
        (registry or REGISTRY).add(name, cls)
        return cls

    return decorate
