"""Configured sources made runnable: one ``poll()`` per interval, declarative or Python.

``build_sources`` turns the config (and ``-s`` names) into :class:`Source`
objects; a Python source's module is imported first so that it registers
itself. A metric name may be published by one source only.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stats_client.collect.config import CollectConfig, HttpSourceConfig, PythonSourceConfig
from stats_client.collect.errors import ConfigError, PollError, Reason, RegistryError
from stats_client.collect.extract import extract
from stats_client.collect.http import Fetcher, HttpRequest
from stats_client.collect.model import MetricDef, Reading, reading_from_result
from stats_client.collect.registry import REGISTRY, PythonSource, SourceRegistry

__all__ = ["HttpSource", "PollResult", "PythonSourceRunner", "Source", "build_sources"]

logger = logging.getLogger("stats_client.collect")


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll gave: the metrics read, the problems met, and whether all of it failed."""

    readings: tuple[Reading, ...] = ()
    errors: tuple[PollError, ...] = ()
    failed: bool = False
    """True when nothing could be read (upstream down): the last snapshot stays."""


class Source(Protocol):
    """A runnable source."""

    name: str
    interval_seconds: float
    jitter_ratio: float

    def metrics(self) -> tuple[MetricDef, ...]:
        """Every metric it publishes (windowed ones included)."""
        ...

    def windowed(self) -> tuple[MetricDef, ...]:
        """The metrics collected per time window."""
        ...

    def poll(self) -> PollResult:
        """Read every non-windowed metric once; never raises."""
        ...

    def poll_window(self, metric: str, since: dt.datetime, until: dt.datetime) -> Reading:
        """Read one windowed metric for ``[since, until)``; raises PollError."""
        ...


class HttpSource:
    """A declarative source: one request, then JSONPath per metric."""

    def __init__(self, config: HttpSourceConfig, fetcher: Fetcher) -> None:
        self.config = config
        self.name = config.name
        self.interval_seconds = config.interval_seconds
        self.jitter_ratio = config.jitter_ratio
        self._fetcher = fetcher
        self._request = HttpRequest(
            config.method, config.url, config.headers, config.body, config.timeout_seconds
        )

    def metrics(self) -> tuple[MetricDef, ...]:
        return tuple(spec.metric for spec in self.config.metrics)

    def windowed(self) -> tuple[MetricDef, ...]:
        return ()

    def poll(self) -> PollResult:
        try:
            data = self._fetcher.fetch_json(self._request)
        except PollError as exc:
            return PollResult(errors=(exc,), failed=True)
        readings: list[Reading] = []
        errors: list[PollError] = []
        for spec in self.config.metrics:
            try:
                reading, skipped = extract(self.name, spec, data)
            except PollError as exc:
                errors.append(exc)
                continue
            readings.append(reading)
            errors.extend(skipped)
        return PollResult(tuple(readings), tuple(errors))

    def poll_window(self, metric: str, since: dt.datetime, until: dt.datetime) -> Reading:
        raise PollError(Reason.BAD_RESULT, f"{self.name}: {metric} is not a windowed metric")


class PythonSourceRunner:
    """Runs the metric methods of one PythonSource instance."""

    def __init__(
        self, name: str, instance: PythonSource, *, interval: float, jitter: float
    ) -> None:
        self.name = name
        self.instance = instance
        self.interval_seconds = interval
        self.jitter_ratio = jitter
        self._metrics = type(instance).collect_metrics()

    def metrics(self) -> tuple[MetricDef, ...]:
        return tuple(m.metric for m in self._metrics)

    def windowed(self) -> tuple[MetricDef, ...]:
        return tuple(m.metric for m in self._metrics if m.windowed)

    def poll(self) -> PollResult:
        try:
            self.instance.refresh()
        except PollError as exc:
            return PollResult(errors=(exc,), failed=True)
        except Exception as exc:  # noqa: BLE001 - a broken source must not stop the runner
            return PollResult(errors=(self._crash("refresh", exc),), failed=True)
        readings: list[Reading] = []
        errors: list[PollError] = []
        for registered in self._metrics:
            if registered.windowed:
                continue
            try:
                result = getattr(self.instance, registered.method)()
                readings.append(reading_from_result(self.name, registered.metric, result))
            except PollError as exc:
                errors.append(exc)
            except Exception as exc:  # noqa: BLE001 - counted and logged, never fatal
                errors.append(self._crash(registered.method, exc))
        return PollResult(tuple(readings), tuple(errors))

    def poll_window(self, metric: str, since: dt.datetime, until: dt.datetime) -> Reading:
        for registered in self._metrics:
            if registered.metric.name == metric and registered.windowed:
                try:
                    result = getattr(self.instance, registered.method)(since=since, until=until)
                except PollError:
                    raise
                except Exception as exc:  # noqa: BLE001 - counted and logged, never fatal
                    raise self._crash(registered.method, exc) from None
                return reading_from_result(self.name, registered.metric, result)
        raise PollError(Reason.BAD_RESULT, f"{self.name}: {metric} is not a windowed metric")

    def _crash(self, method: str, exc: Exception) -> PollError:
        return PollError(
            Reason.COLLECTOR_ERROR, f"{self.name}.{method} raised {type(exc).__name__}: {exc}"
        )


def _import_file(path: Path, key: str) -> None:
    module_name = f"stats_collect_source_{path.stem}"
    if module_name in sys.modules:
        return
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise ConfigError(f"cannot import {path}", key=key)
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module
    try:
        loader_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise


def _import_module(spec: str, base_dir: Path, key: str) -> None:
    try:
        if spec.endswith(".py"):
            _import_file((base_dir / spec).resolve(), key)
        else:
            importlib.import_module(spec)
    except ConfigError:
        raise
    except Exception as exc:  # any import failure is a config problem
        raise ConfigError(f"cannot import {spec}: {type(exc).__name__}: {exc}", key=key) from exc


def _python_source(
    config: PythonSourceConfig,
    index: int,
    base_dir: Path,
    fetcher: Fetcher,
    registry: SourceRegistry,
) -> PythonSourceRunner:
    key = f"sources[{index}]" if index >= 0 else ""
    if config.module:
        _import_module(config.module, base_dir, f"{key}.python")
    try:
        cls = registry.get(config.collector)
    except RegistryError as exc:
        raise ConfigError(
            exc.message, key=f"{key}.collector" if key else f"-s {config.name}"
        ) from None
    instance = cls(options=config.options, fetcher=fetcher, timeout_seconds=config.timeout_seconds)
    interval = config.interval_seconds if config.interval_given else cls.interval_seconds
    return PythonSourceRunner(config.name, instance, interval=interval, jitter=config.jitter_ratio)


def build_sources(
    config: CollectConfig,
    *,
    fetcher: Fetcher,
    selected: Sequence[str] = (),
    registry: SourceRegistry | None = None,
) -> list[Source]:
    """The sources to run: all configured ones, or those named in ``selected``.

    A selected name that the config does not define is looked up in the
    registry and run with default settings.
    """
    registry = registry or REGISTRY
    configured = {source.name: (index, source) for index, source in enumerate(config.sources)}
    names = list(dict.fromkeys(selected)) if selected else list(configured)
    sources: list[Source] = []
    for name in names:
        index, source_config = configured.get(name, (-1, None))
        if isinstance(source_config, HttpSourceConfig):
            sources.append(HttpSource(source_config, fetcher))
            continue
        if source_config is None:
            source_config = PythonSourceConfig(name=name, collector=name)
        sources.append(_python_source(source_config, index, config.base_dir, fetcher, registry))
    owners: dict[str, str] = {}
    for source in sources:
        for metric in source.metrics():
            if metric.name in owners:
                raise ConfigError(
                    f"metric {metric.name!r} is published by both {owners[metric.name]!r} "
                    f"and {source.name!r}",
                    key=source.name,
                )
            owners[metric.name] = source.name
    return sources
