"""The collector config file: YAML read once at start into frozen, validated objects.

Every mistake is a :class:`~stats_client.collect.errors.ConfigError` that
names the key (``sources[1].metrics[0].type``) and, where YAML gives one,
the line. ``${NAME}`` in a URL, a header value, an option or the access token is
replaced by the environment variable ``NAME`` (``${NAME:-default}`` gives a
default); an unset one without a default is an error.
Header values and tokens never appear in a ``repr`` or a message.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from stats_client.collect.errors import ConfigError
from stats_client.collect.extract import (
    MetricExtraction,
    compile_label_path,
    compile_path,
)
from stats_client.collect.model import (
    METRIC_TYPES,
    SOURCE_NAME_RE,
    MetricDef,
    MetricType,
    check_label_name,
    check_metric_name,
)
from stats_client.collect.yamldoc import Document, child_key, read_yaml

__all__ = [
    "DEFAULT_PORT",
    "CollectConfig",
    "HttpSourceConfig",
    "PythonSourceConfig",
    "SourceConfig",
    "load_config",
    "parse_config",
]

DEFAULT_PORT = 9108
_DEFAULT_EVENTS_URL = "http://127.0.0.1:20080"
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_METHODS = ("GET", "POST")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Schedule:
    name: str
    """The source's name: the ``source`` label and the middle of ``collect.<source>.<metric>``."""
    interval_seconds: float = 60.0
    """Time between two polls."""
    jitter_ratio: float = 0.1
    """Each wait is moved by up to this share of the interval, at random, either way."""
    timeout_seconds: float = 10.0
    """Longest wait for one upstream answer."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpSourceConfig(_Schedule):
    """A declarative source: one HTTP request per poll, metrics picked out by JSONPath."""

    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    body: Any = None
    """JSON body sent with POST."""
    metrics: tuple[MetricExtraction, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PythonSourceConfig(_Schedule):
    """A source written in Python, found by name in the source registry."""

    collector: str
    """Registry name of the source class (defaults to ``name``)."""
    module: str | None = None
    """Module or ``.py`` file (relative to the config file) imported to register it."""
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    """Passed to the source class as ``options``; ``${NAME}`` in strings is expanded."""
    interval_given: bool = False
    """False: the file left ``interval_seconds`` out, so the class's own default applies."""


SourceConfig = HttpSourceConfig | PythonSourceConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectConfig:
    """The whole runner: its sources and both outputs."""

    sources: tuple[SourceConfig, ...] = ()
    prometheus_enabled: bool = True
    """Serve ``/metrics``."""
    prometheus_host: str = "127.0.0.1"
    """Address ``/metrics`` binds to (loopback unless told otherwise)."""
    prometheus_port: int = DEFAULT_PORT
    """Port of ``/metrics``."""
    events_enabled: bool = False
    """Ship each poll's values to stats-service as events."""
    events_url: str = _DEFAULT_EVENTS_URL
    """stats-service base URL."""
    events_access_token: str = field(default="", repr=False)
    """Token with the ``write`` scope; never logged."""
    state_file: Path | None = None
    """Where delta totals and window watermarks persist (atomic writes); None: memory only."""
    max_window_days: float = 28.0
    """A time-window gap longer than this is collected in pieces of at most this size."""
    max_backoff_seconds: float = 600.0
    """Cap of the wait after repeated upstream failures."""
    base_dir: Path = Path()
    """Directory of the config file; relative paths in it are read from here."""

    def source_names(self) -> tuple[str, ...]:
        """The configured sources' names, in file order."""
        return tuple(source.name for source in self.sources)


class _Reader:
    """Typed reads from a Document, each failure naming its key and line."""

    def __init__(self, doc: Document, environ: Mapping[str, str]) -> None:
        self.doc = doc
        self.environ = environ

    def mapping(self, value: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.doc.error(key, "must be a mapping")
        for name in value:
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.doc.error(child_key(key, name), f"unknown key{hint}")
        return value

    def get(self, obj: Mapping[str, Any], key: str, name: str, kind: str, default: Any) -> Any:
        sub = child_key(key, name)
        if name not in obj:
            if default is _REQUIRED:
                raise self.doc.error(sub, "is required")
            return default
        value = obj[name]
        check = _CHECKS.get(kind)
        if check is not None and not check[0](value):
            raise self.doc.error(sub, check[1])
        return value

    def expand(self, value: str, key: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name not in self.environ and default is not None:
                return default
            if name not in self.environ:
                raise self.doc.error(key, f"environment variable {name} is not set")
            return self.environ[name]

        return _ENV_RE.sub(replace, value)


_REQUIRED = object()


def _is_port(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and 0 <= value <= 65535


_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "str": (lambda v: isinstance(v, str) and bool(v), "must be a non-empty string"),
    "bool": (lambda v: isinstance(v, bool), "must be true or false"),
    "positive": (lambda v: _is_number(v) and v > 0, "must be a number > 0"),
    "ratio": (
        lambda v: _is_number(v) and 0 <= v < 1,
        "must be a number from 0 up to (not including) 1",
    ),
    "port": (_is_port, "must be a port number (0-65535)"),
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


_SCHEDULE_KEYS = ("name", "interval_seconds", "jitter_ratio", "timeout_seconds")
_HTTP_KEYS = (*_SCHEDULE_KEYS, "url", "method", "headers", "body", "metrics")
_PYTHON_KEYS = (*_SCHEDULE_KEYS, "python", "collector", "options")
_METRIC_KEYS = ("name", "type", "help", "path", "labels", "value", "buckets", "delta")


def _schedule(r: _Reader, obj: Mapping[str, Any], key: str) -> dict[str, Any]:
    name = r.get(obj, key, "name", "str", _REQUIRED)
    if not SOURCE_NAME_RE.match(name):
        raise r.doc.error(child_key(key, "name"), "must match [A-Za-z][A-Za-z0-9_-]{0,63}")
    return {
        "name": name,
        "interval_seconds": float(r.get(obj, key, "interval_seconds", "positive", 60.0)),
        "jitter_ratio": float(r.get(obj, key, "jitter_ratio", "ratio", 0.1)),
        "timeout_seconds": float(r.get(obj, key, "timeout_seconds", "positive", 10.0)),
    }


def _metric(r: _Reader, obj: Any, key: str) -> MetricExtraction:
    obj = r.mapping(obj, key, _METRIC_KEYS)
    name = r.get(obj, key, "name", "str", _REQUIRED)
    if (problem := check_metric_name(name)) is not None:
        raise r.doc.error(child_key(key, "name"), problem)
    kind = r.get(obj, key, "type", "str", _REQUIRED)
    if kind not in METRIC_TYPES:
        raise r.doc.error(child_key(key, "type"), f"must be one of {', '.join(METRIC_TYPES)}")
    help_text = r.get(obj, key, "help", "str", name.replace("_", " "))
    delta = r.get(obj, key, "delta", "bool", False)
    if delta and kind != "counter":
        raise r.doc.error(child_key(key, "delta"), "only a counter can be a delta metric")
    labels_obj = obj.get("labels", {})
    labels_key = child_key(key, "labels")
    if not isinstance(labels_obj, dict):
        raise r.doc.error(labels_key, "must be a mapping of label name to JSONPath")
    labels = []
    for label, text in labels_obj.items():
        sub = child_key(labels_key, label)
        if (problem := check_label_name(label)) is not None:
            raise r.doc.error(sub, problem)
        try:
            labels.append(compile_label_path(label, text))
        except ValueError as exc:
            raise r.doc.error(sub, str(exc)) from None
    paths = {}
    for part in ("path", "value"):
        text = r.get(obj, key, part, "str", _REQUIRED if part == "path" else None)
        try:
            paths[part] = None if text is None else compile_path(text)
        except ValueError as exc:
            raise r.doc.error(child_key(key, part), str(exc)) from None
    buckets = _buckets(r, obj, key, kind)
    metric = MetricDef(
        name, cast("MetricType", kind), help_text, tuple(x.name for x in labels), buckets, delta
    )
    assert paths["path"] is not None
    return MetricExtraction(metric, paths["path"], tuple(labels), paths["value"])


def _buckets(r: _Reader, obj: Mapping[str, Any], key: str, kind: str) -> tuple[float, ...] | None:
    if "buckets" not in obj:
        return None
    sub = child_key(key, "buckets")
    if kind != "histogram":
        raise r.doc.error(sub, "only a histogram has buckets")
    value = obj["buckets"]
    if not isinstance(value, list) or not value or not all(_is_number(x) for x in value):
        raise r.doc.error(sub, "must be a non-empty list of numbers")
    if sorted(set(value)) != value:
        raise r.doc.error(sub, "must be strictly increasing")
    return tuple(float(x) for x in value)


def _http_source(r: _Reader, obj: Mapping[str, Any], key: str) -> HttpSourceConfig:
    r.mapping(obj, key, _HTTP_KEYS)
    url = r.expand(r.get(obj, key, "url", "str", _REQUIRED), child_key(key, "url"))
    if not url.startswith(("http://", "https://")):
        raise r.doc.error(child_key(key, "url"), "must be an http:// or https:// URL")
    method = str(r.get(obj, key, "method", "str", "GET")).upper()
    if method not in _METHODS:
        raise r.doc.error(child_key(key, "method"), f"must be one of {', '.join(_METHODS)}")
    headers_obj = obj.get("headers", {})
    headers_key = child_key(key, "headers")
    if not isinstance(headers_obj, dict):
        raise r.doc.error(headers_key, "must be a mapping of header name to value")
    headers = {}
    for header, value in headers_obj.items():
        sub = child_key(headers_key, header)
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise r.doc.error(sub, "must be a string")
        headers[header] = r.expand(str(value), sub)
    metrics_obj = r.get(obj, key, "metrics", "list", _REQUIRED)
    metrics_key = child_key(key, "metrics")
    if not isinstance(metrics_obj, list) or not metrics_obj:
        raise r.doc.error(metrics_key, "must be a non-empty list of metrics")
    metrics = tuple(_metric(r, m, child_key(metrics_key, i)) for i, m in enumerate(metrics_obj))
    seen: set[str] = set()
    for index, extraction in enumerate(metrics):
        if extraction.metric.name in seen:
            sub = child_key(child_key(metrics_key, index), "name")
            raise r.doc.error(sub, f"metric {extraction.metric.name!r} is defined twice")
        seen.add(extraction.metric.name)
    return HttpSourceConfig(
        **_schedule(r, obj, key),
        url=url,
        method=method,
        headers=headers,
        body=obj.get("body"),
        metrics=metrics,
    )


def _expand_options(r: _Reader, value: Any, key: str) -> Any:
    if isinstance(value, str):
        return r.expand(value, key)
    if isinstance(value, dict):
        return {k: _expand_options(r, v, child_key(key, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_options(r, v, child_key(key, i)) for i, v in enumerate(value)]
    return value


def _python_source(r: _Reader, obj: Mapping[str, Any], key: str) -> PythonSourceConfig:
    r.mapping(obj, key, _PYTHON_KEYS)
    schedule = _schedule(r, obj, key)
    options = obj.get("options", {})
    if not isinstance(options, dict):
        raise r.doc.error(child_key(key, "options"), "must be a mapping")
    return PythonSourceConfig(
        **schedule,
        collector=r.get(obj, key, "collector", "str", schedule["name"]),
        module=r.get(obj, key, "python", "str", None),
        options=_expand_options(r, options, child_key(key, "options")),
        interval_given="interval_seconds" in obj,
    )


_TOP_KEYS = (
    "sources",
    "prometheus",
    "events",
    "state_file",
    "max_window_days",
    "max_backoff_seconds",
)


def parse_config(
    text: str, *, environ: Mapping[str, str], base_dir: Path | None = None
) -> CollectConfig:
    """Validate the YAML ``text`` of a config file."""
    doc = read_yaml(text)
    r = _Reader(doc, environ)
    top = r.mapping(doc.value, "", _TOP_KEYS)
    base = base_dir or Path()
    sources_obj = top.get("sources", [])
    if not isinstance(sources_obj, list):
        raise doc.error("sources", "must be a list of sources")
    sources: list[SourceConfig] = []
    for index, obj in enumerate(sources_obj):
        key = child_key("sources", index)
        if not isinstance(obj, dict):
            raise doc.error(key, "must be a mapping")
        is_python = "python" in obj or "collector" in obj
        sources.append(_python_source(r, obj, key) if is_python else _http_source(r, obj, key))
    names = [source.name for source in sources]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise doc.error(f"sources[{index}].name", f"source {name!r} is defined twice")
    prom = r.mapping(top.get("prometheus", {}), "prometheus", ("enabled", "host", "port"))
    events = r.mapping(top.get("events", {}), "events", ("enabled", "url", "access_token"))
    state_file = r.get(top, "", "state_file", "str", None)
    events_url = r.expand(r.get(events, "events", "url", "str", _DEFAULT_EVENTS_URL), "events.url")
    if not events_url.startswith(("http://", "https://")):
        raise doc.error("events.url", "must be an http:// or https:// URL")
    token = r.get(events, "events", "access_token", "str", "")
    return CollectConfig(
        sources=tuple(sources),
        prometheus_enabled=r.get(prom, "prometheus", "enabled", "bool", True),
        prometheus_host=r.get(prom, "prometheus", "host", "str", "127.0.0.1"),
        prometheus_port=r.get(prom, "prometheus", "port", "port", DEFAULT_PORT),
        events_enabled=r.get(events, "events", "enabled", "bool", False),
        events_url=events_url,
        events_access_token=r.expand(token, "events.access_token") if token else "",
        state_file=None if state_file is None else base / state_file,
        max_window_days=float(r.get(top, "", "max_window_days", "positive", 28.0)),
        max_backoff_seconds=float(r.get(top, "", "max_backoff_seconds", "positive", 600.0)),
        base_dir=base,
    )


def load_config(path: Path, *, environ: Mapping[str, str]) -> CollectConfig:
    """Read and validate the config file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return parse_config(text, environ=environ, base_dir=path.resolve().parent)
