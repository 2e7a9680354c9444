"""stats-client collectors: poll third-party APIs into Prometheus metrics and stats-service events.

Needs the extra: ``pip install 'stats-client[collect]'``. Sources are
declared in YAML (see :mod:`~stats_client.collect.config`) or written in
Python with :func:`register_metric`, :func:`enable_delta_metric` and
:func:`register_source`; ``stats-collect`` runs them.
"""

from stats_client.collect import instants
from stats_client.collect.app import CollectorApp, Parts
from stats_client.collect.config import (
    CollectConfig,
    HttpSourceConfig,
    PythonSourceConfig,
    load_config,
    parse_config,
)
from stats_client.collect.errors import (
    CollectError,
    ConfigError,
    DuplicateLabelsError,
    PollError,
    Reason,
    RegistryError,
)
from stats_client.collect.events import AnalyticsSink, EventSink, MemorySink, PrintSink
from stats_client.collect.http import Fetcher, HttpRequest, HttpxFetcher, MemoryFetcher
from stats_client.collect.model import MetricDef, Reading
from stats_client.collect.registry import (
    REGISTRY,
    PythonSource,
    SourceRegistry,
    enable_delta_metric,
    register_metric,
    register_source,
)
from stats_client.collect.state import FileStateStore, MemoryStateStore, StateStore

__all__ = [
    "REGISTRY",
    "AnalyticsSink",
    "CollectConfig",
    "CollectError",
    "CollectorApp",
    "ConfigError",
    "DuplicateLabelsError",
    "EventSink",
    "Fetcher",
    "FileStateStore",
    "HttpRequest",
    "HttpSourceConfig",
    "HttpxFetcher",
    "MemoryFetcher",
    "MemorySink",
    "MemoryStateStore",
    "MetricDef",
    "Parts",
    "PollError",
    "PrintSink",
    "PythonSource",
    "PythonSourceConfig",
    "Reading",
    "Reason",
    "RegistryError",
    "SourceRegistry",
    "StateStore",
    "enable_delta_metric",
    "instants",
    "load_config",
    "parse_config",
    "register_metric",
    "register_source",
]
