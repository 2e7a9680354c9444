"""Prometheus metrics: the catalogue, the recorder the service calls, and ``/metrics``.

Everything is bound to a :class:`~prometheus_client.CollectorRegistry` passed
in, so an app (or a test) owns its metrics and nothing is registered at import.

* :data:`CATALOGUE` lists every metric we expose, with its type, labels and
  meaning; dashboards, alert rules and the operations guide are checked against
  it.
* :class:`Metrics` is what the rest of the code calls to count things
  (``events_accepted``, ``events_rejected``, ``auth_failed``, ``forwarded``,
  ``forward_error``, ``dead_lettered``); :class:`NullMetrics` does nothing.
* Outbox gauges and build info are computed at scrape time by
  :class:`ScrapeTimeCollector` from a status callback, so the hot path never
  updates them.
* HTTP metrics come from prometheus-fastapi-instrumentator (see
  :func:`install_metrics`).

Several worker processes: prometheus_client switches itself to multiprocess
mode when ``PROMETHEUS_MULTIPROC_DIR`` names a directory at the time it is
first imported (it reads that variable itself). Counters and histograms are
then kept in files there, and ``/metrics`` sums the files of every process;
the scrape-time gauges come from the process that answers the scrape.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from timeit import default_timer
from typing import TYPE_CHECKING, Any, Literal, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    values,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_fastapi_instrumentator.metrics import Info
from prometheus_fastapi_instrumentator.middleware import PrometheusInstrumentatorMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stats_service.auth import AuthenticationFailed
from stats_service.errors import Forbidden, StatsServiceError
from stats_service.observability.logging import RouteTemplates

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = [
    "CATALOGUE",
    "FORWARD_ERROR_KINDS",
    "INGEST_PATHS",
    "METRICS_PATH",
    "HttpSeries",
    "MetricSpec",
    "Metrics",
    "MetricsRecorder",
    "NullMetrics",
    "OutboxGauges",
    "OutboxSnapshot",
    "ScrapeTimeCollector",
    "install_metrics",
    "is_multiprocess",
]

logger = logging.getLogger("stats_service.observability")

METRICS_PATH = "/metrics"
"""Where the metrics are served; never itself instrumented."""

INGEST_PATHS = ("/log/event", "/log/events")
"""Route templates whose refused requests count as rejected events."""

FORWARD_ERROR_KINDS = ("unavailable", "rejected")
"""``unavailable``: the backend could not be reached or answered 5xx/429 (retried);
``rejected``: the backend refused points (they go to the dead letters)."""

_AUTH_REASONS = (
    "missing",
    "malformed",
    "bad_signature",
    "expired",
    "unknown",
    "revoked",
    "forbidden",
)
_REJECT_REASONS = (
    "bad_request",
    "unauthorized",
    "forbidden",
    "payload_too_large",
    "unsupported_media_type",
    "invalid",
    "invalid_event",
    "unavailable",
)
_FORWARD_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SAFE_LABEL = re.compile(r"[A-Za-z0-9_./{}-]{1,64}")
_OTHER = "other"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One exposed metric: its name as scraped, type, labels and meaning."""

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    labels: tuple[str, ...]
    doc: str
    source: Literal["service", "scrape", "http"] = "service"
    """``service``: counted by the code; ``scrape``: computed at scrape time;
    ``http``: recorded by the HTTP instrumentation."""


CATALOGUE: tuple[MetricSpec, ...] = (
    MetricSpec(
        "stats_events_accepted_total",
        "counter",
        ("path",),
        "Events stored durably (2xx), by ingest route.",
    ),
    MetricSpec(
        "stats_events_rejected_total",
        "counter",
        ("reason",),
        "Events refused, by error code; a request refused as a whole counts once, "
        "an invalid item of a batch counts once.",
    ),
    MetricSpec(
        "stats_events_forwarded_total",
        "counter",
        (),
        "Events the forwarder wrote from the outbox to the storage backend.",
    ),
    MetricSpec(
        "stats_forward_batch_duration_seconds",
        "histogram",
        (),
        "Time to write one forwarded batch to the storage backend.",
    ),
    MetricSpec(
        "stats_forward_errors_total",
        "counter",
        ("kind",),
        "Failed forward attempts: unavailable (retried) or rejected (dead-lettered).",
    ),
    MetricSpec(
        "stats_deadletters_total",
        "counter",
        (),
        "Points the storage backend refused that were moved to the dead letters.",
    ),
    MetricSpec(
        "stats_auth_failures_total",
        "counter",
        ("reason",),
        "Requests refused by token authentication (or missing scope: forbidden), by reason.",
    ),
    MetricSpec(
        "stats_outbox_depth_events",
        "gauge",
        (),
        "Events waiting in the durable outbox.",
        "scrape",
    ),
    MetricSpec(
        "stats_outbox_bytes",
        "gauge",
        (),
        "Size of the events waiting in the durable outbox.",
        "scrape",
    ),
    MetricSpec(
        "stats_outbox_capacity_events",
        "gauge",
        (),
        "The outbox bound of waiting events; ingestion answers 503 beyond it.",
        "scrape",
    ),
    MetricSpec(
        "stats_outbox_capacity_bytes",
        "gauge",
        (),
        "The outbox bound of waiting bytes; ingestion answers 503 beyond it.",
        "scrape",
    ),
    MetricSpec(
        "stats_outbox_oldest_age_seconds",
        "gauge",
        (),
        "Age of the oldest event waiting in the outbox (0 when empty).",
        "scrape",
    ),
    MetricSpec(
        "stats_deadletters_pending",
        "gauge",
        (),
        "Dead letters stored and not yet replayed.",
        "scrape",
    ),
    MetricSpec(
        "stats_backend_up",
        "gauge",
        (),
        "1 when the last contact with the storage backend succeeded, else 0.",
        "scrape",
    ),
    MetricSpec(
        "stats_build_info",
        "gauge",
        ("version",),
        "Always 1; the version label says which release runs.",
        "scrape",
    ),
    MetricSpec(
        "http_requests_total",
        "counter",
        ("handler", "method", "status"),
        "HTTP requests by route template, method and status code (/metrics excluded).",
        "http",
    ),
    MetricSpec(
        "http_request_duration_seconds",
        "histogram",
        ("handler", "method"),
        "HTTP request latency by route template and method (/metrics excluded).",
        "http",
    ),
)


class OutboxGauges(Protocol):
    """What the scrape-time gauges read from the durable outbox.

    ``stats_service.delivery.outbox.OutboxStatus`` has exactly these fields, so
    ``DurableStore.status_sync`` can be watched as it is.
    """

    @property
    def pending_events(self) -> int:
        """Events waiting to be forwarded."""
        ...

    @property
    def pending_bytes(self) -> int:
        """Bytes waiting to be forwarded."""
        ...

    @property
    def max_pending_events(self) -> int:
        """The bound of waiting events (503 beyond it)."""
        ...

    @property
    def max_pending_bytes(self) -> int:
        """The bound of waiting bytes (503 beyond it)."""
        ...

    @property
    def oldest_pending_age_seconds(self) -> float | None:
        """Age of the oldest waiting event; None when nothing waits."""
        ...

    @property
    def dead_letters(self) -> int:
        """Dead letters not yet replayed."""
        ...

    @property
    def backend_ok(self) -> bool | None:
        """Whether the last contact with the backend succeeded; None before any."""
        ...


@dataclass(frozen=True, slots=True)
class OutboxSnapshot:
    """A plain :class:`OutboxGauges` (tests, or adapting another status object)."""

    pending_events: int = 0
    pending_bytes: int = 0
    max_pending_events: int = 1_000_000
    max_pending_bytes: int = 1 << 30
    oldest_pending_age_seconds: float | None = None
    dead_letters: int = 0
    backend_ok: bool | None = None


OutboxStatusSource = Callable[[], OutboxGauges | None]


class MetricsRecorder(Protocol):
    """The counting API the service and the forwarder call."""

    def events_accepted(self, count: int, path: str) -> None:
        """``count`` events were stored durably through ``path``."""
        ...

    def events_rejected(self, count: int, reason: str) -> None:
        """``count`` events were refused with error code ``reason``."""
        ...

    def auth_failed(self, reason: str) -> None:
        """A request failed token authentication for ``reason``."""
        ...

    def forwarded(self, count: int, seconds: float) -> None:
        """A batch of ``count`` events reached the backend in ``seconds``."""
        ...

    def forward_error(self, kind: str) -> None:
        """A forward attempt failed: ``unavailable`` or ``rejected``."""
        ...

    def dead_lettered(self, count: int) -> None:
        """``count`` points were moved to the dead letters."""
        ...

    def watch_outbox(self, status: OutboxStatusSource | None) -> None:
        """Read outbox gauges from ``status`` at scrape time (None: no outbox)."""
        ...

    def observe_http(self, handler: str, method: str, status: int, seconds: float) -> None:
        """One request answered outside the HTTP instrumentation (the ingest lane)."""
        ...

    def observe_error(self, method: str, route: str | None, exc: StatsServiceError) -> None:
        """Count an error answered to a client (``route`` is the route template)."""
        ...


def _label(value: str) -> str:
    """Label values come from code, but never let one explode cardinality."""
    return value if _SAFE_LABEL.fullmatch(value) else _OTHER


class ScrapeTimeCollector:
    """Build info and the outbox gauges, computed when Prometheus scrapes.

    ``status`` is called once per scrape; if it raises, the outbox gauges are
    left out of that scrape (and the error logged) rather than failing it.
    """

    def __init__(self, *, version: str, status: OutboxStatusSource | None = None) -> None:
        self._version = version
        self.status = status

    def describe(self) -> Iterable[Metric]:
        """The names this collector owns, without calling the status callback."""
        return [
            GaugeMetricFamily(spec.name, spec.doc, labels=spec.labels)
            for spec in CATALOGUE
            if spec.source == "scrape"
        ]

    def collect(self) -> Iterable[Metric]:
        """The current values."""
        docs = {spec.name: spec.doc for spec in CATALOGUE}
        info = GaugeMetricFamily("stats_build_info", docs["stats_build_info"], labels=["version"])
        info.add_metric([self._version], 1.0)
        families: list[Metric] = [info]
        status = self._read_status()
        if status is None:
            return families
        age = status.oldest_pending_age_seconds
        values_by_name: dict[str, float] = {
            "stats_outbox_depth_events": float(status.pending_events),
            "stats_outbox_bytes": float(status.pending_bytes),
            "stats_outbox_capacity_events": float(status.max_pending_events),
            "stats_outbox_capacity_bytes": float(status.max_pending_bytes),
            "stats_outbox_oldest_age_seconds": max(float(age), 0.0) if age is not None else 0.0,
            "stats_deadletters_pending": float(status.dead_letters),
        }
        if status.backend_ok is not None:
            values_by_name["stats_backend_up"] = 1.0 if status.backend_ok else 0.0
        families.extend(
            GaugeMetricFamily(name, docs[name], value=value)
            for name, value in values_by_name.items()
        )
        return families

    def _read_status(self) -> OutboxGauges | None:
        if self.status is None:
            return None
        try:
            return self.status()
        except Exception:
            logger.exception("the outbox status could not be read for /metrics")
            return None


class Metrics:
    """Our counters and histograms in one registry, behind small methods.

    Every known label value is created at zero up front, so rates and
    ``increase()`` work from the first scrape and dashboards show zeros rather
    than gaps.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        version: str,
        outbox_status: OutboxStatusSource | None = None,
        http: HttpSeries | None = None,
    ) -> None:
        self.registry = registry
        self._http = http
        docs = {spec.name: spec.doc for spec in CATALOGUE}

        def counter(name: str, labels: Sequence[str] = ()) -> Counter:
            return Counter(name, docs[name], labelnames=labels, registry=registry)

        self._accepted = counter("stats_events_accepted_total", ["path"])
        self._rejected = counter("stats_events_rejected_total", ["reason"])
        self._forwarded = counter("stats_events_forwarded_total")
        self._forward_errors = counter("stats_forward_errors_total", ["kind"])
        self._deadletters = counter("stats_deadletters_total")
        self._auth_failures = counter("stats_auth_failures_total", ["reason"])
        self._forward_duration = Histogram(
            "stats_forward_batch_duration_seconds",
            docs["stats_forward_batch_duration_seconds"],
            buckets=_FORWARD_BUCKETS,
            registry=registry,
        )
        self._children: dict[tuple[Counter, str], Counter] = {}
        for path in INGEST_PATHS:
            self._child(self._accepted, path)
        for reason in _REJECT_REASONS:
            self._child(self._rejected, reason)
        for kind in FORWARD_ERROR_KINDS:
            self._child(self._forward_errors, kind)
        for reason in _AUTH_REASONS:
            self._child(self._auth_failures, reason)
        self.scrape_collector = ScrapeTimeCollector(version=version, status=outbox_status)

    def _child(self, parent: Counter, value: str) -> Counter:
        key = (parent, value)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = parent.labels(_label(value))
        return child

    def events_accepted(self, count: int, path: str) -> None:
        """``count`` events were stored durably through ``path``."""
        if count > 0:
            self._child(self._accepted, path).inc(count)

    def events_rejected(self, count: int, reason: str) -> None:
        """``count`` events were refused with error code ``reason``."""
        if count > 0:
            self._child(self._rejected, reason).inc(count)

    def auth_failed(self, reason: str) -> None:
        """A request failed token authentication for ``reason``."""
        self._child(self._auth_failures, reason).inc()

    def forwarded(self, count: int, seconds: float) -> None:
        """A batch of ``count`` events reached the backend in ``seconds``."""
        if count > 0:
            self._forwarded.inc(count)
        self._forward_duration.observe(max(seconds, 0.0))

    def forward_error(self, kind: str) -> None:
        """A forward attempt failed: ``unavailable`` or ``rejected``."""
        self._child(self._forward_errors, kind).inc()

    def dead_lettered(self, count: int) -> None:
        """``count`` points were moved to the dead letters."""
        if count > 0:
            self._deadletters.inc(count)

    def watch_outbox(self, status: OutboxStatusSource | None) -> None:
        """Read outbox gauges from ``status`` at scrape time (None: no outbox)."""
        self.scrape_collector.status = status

    def observe_http(self, handler: str, method: str, status: int, seconds: float) -> None:
        """One request answered outside the HTTP instrumentation (the ingest lane).

        Recorded in the instrumentation's own series (``http``), so such
        requests count exactly like the others; without ``http``, ignored.
        """
        if self._http is not None:
            self._http.observe(handler, method, str(status), max(seconds, 0.0))

    def observe_error(self, method: str, route: str | None, exc: StatsServiceError) -> None:
        """Count an error answered to a client: auth failures and refused ingests.

        The error handlers installed by :func:`install_metrics` call this; code
        that answers errors by itself (outside FastAPI's handlers) calls it too.
        """
        if isinstance(exc, AuthenticationFailed):
            self.auth_failed(exc.reason)
        elif isinstance(exc, Forbidden):
            self.auth_failed("forbidden")
        if method == "POST" and route in INGEST_PATHS:
            self.events_rejected(1, exc.code)


class NullMetrics:
    """A :class:`MetricsRecorder` that records nothing (metrics off, or tests)."""

    def events_accepted(self, count: int, path: str) -> None:
        """Ignored."""

    def events_rejected(self, count: int, reason: str) -> None:
        """Ignored."""

    def auth_failed(self, reason: str) -> None:
        """Ignored."""

    def forwarded(self, count: int, seconds: float) -> None:
        """Ignored."""

    def forward_error(self, kind: str) -> None:
        """Ignored."""

    def dead_lettered(self, count: int) -> None:
        """Ignored."""

    def watch_outbox(self, status: OutboxStatusSource | None) -> None:
        """Ignored."""

    def observe_http(self, handler: str, method: str, status: int, seconds: float) -> None:
        """Ignored."""

    def observe_error(self, method: str, route: str | None, exc: StatsServiceError) -> None:
        """Ignored."""


def is_multiprocess() -> bool:
    """Whether prometheus_client keeps values in per-process files (multiprocess mode)."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def _exposition_registry(
    metrics: Metrics, *, owns_registry: bool, multiprocess: bool
) -> CollectorRegistry:
    if multiprocess:
        # Every worker's counters, read from the files of all processes.
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
        registry.register(metrics.scrape_collector)
        return registry
    registry = metrics.registry
    registry.register(metrics.scrape_collector)
    if owns_registry:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    return registry


def _metrics_endpoint(registry: CollectorRegistry) -> Callable[[Request], Response]:
    def metrics(request: Request) -> Response:
        # A sync endpoint: it runs in the thread pool, since collecting may
        # read files (multiprocess mode) or call the outbox status.
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(registry), headers={"Content-Type": content_type})

    return metrics


def _counting_handler(
    handler: Callable[[Request, Exception], Response | Awaitable[Response]],
    metrics: Metrics,
) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def count_then_answer(request: Request, exc: Exception) -> Response:
        if isinstance(exc, StatsServiceError):
            route = getattr(request.scope.get("route"), "path", None)
            metrics.observe_error(request.method, route, exc)
        response = handler(request, exc)
        if isinstance(response, Response):
            return response
        return await response

    return count_then_answer


class HttpSeries:
    """The HTTP series ``http_requests_total`` and ``http_request_duration_seconds``.

    Requests by route, method and status; latency by route and method. Nothing
    else (request and response sizes would cost time on every request for
    little use). Same names, help texts, labels and buckets as the
    instrumentator's ``requests()`` and ``latency(should_include_status=False)``
    would register; the labelled children are looked up once per label set.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._requests = Counter(
            "http_requests_total",
            "Total number of requests by method, status and handler.",
            labelnames=("handler", "method", "status"),
            registry=registry,
        )
        self._duration = Histogram(
            "http_request_duration_seconds",
            "Duration of HTTP requests in seconds",
            labelnames=("handler", "method"),
            buckets=_HTTP_BUCKETS,
            registry=registry,
        )
        self._counted: dict[tuple[str, str, str], Counter] = {}
        self._timed: dict[tuple[str, str], Histogram] = {}

    def observe(self, handler: str, method: str, status: str, seconds: float) -> None:
        """Count one answered request and its duration."""
        counted = self._counted.get((handler, method, status))
        if counted is None:
            counted = self._requests.labels(handler, method, status)
            self._counted[(handler, method, status)] = counted
        counted.inc()
        timed = self._timed.get((handler, method))
        if timed is None:
            timed = self._timed[(handler, method)] = self._duration.labels(handler, method)
        timed.observe(seconds)

    def instrumentation(self, info: Info) -> None:
        """The same, as an instrumentator instrumentation."""
        self.observe(
            info.modified_handler, info.method, info.modified_status, info.modified_duration
        )


_LEAN_ROUTES = frozenset({("POST", "/log/event"), ("POST", "/log/events")})
"""The ingest requests, measured without the instrumentator's per-request objects."""


class _InstrumentatorMiddleware(PrometheusInstrumentatorMiddleware):
    """The instrumentator, naming routes with a shared :class:`RouteTemplates`.

    Its own lookup matches every route on every request and misses paths with
    a trailing slash when it runs outside the slash rewriting; the shared one
    is cached for the hot routes and slash-insensitive. A unit test pins that
    both give the same names.

    The ingest routes (:data:`_LEAN_ROUTES`) skip the instrumentator's generic
    machinery (a ``Request``, a ``Response`` and an ``Info`` per request) and
    record the same two series directly through ``series``; every other
    request goes through the instrumentator itself.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        route_templates: Callable[[Scope], str | None],
        series: HttpSeries,
        **options: Any,
    ) -> None:
        super().__init__(app, **options)
        self._route_templates = route_templates
        self._series = series

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        handler = self._route_templates(scope)
        if (method, handler) not in _LEAN_ROUTES:
            await super().__call__(scope, receive, send)
            return
        assert handler is not None  # it is one of the lean routes
        start = default_timer()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            duration = default_timer() - start
            self._series.observe(handler, method, str(status), max(duration, 0.0))

    def _get_handler(self, request: Request) -> tuple[str, bool]:
        name = self._route_templates(request.scope)
        return (name, True) if name is not None else (request.url.path, False)


def install_metrics(
    app: FastAPI,
    *,
    version: str,
    registry: CollectorRegistry | None = None,
    outbox_status: OutboxStatusSource | None = None,
    multiprocess: bool | None = None,
    route_templates: Callable[[Scope], str | None] | None = None,
) -> Metrics:
    """Instrument ``app``, serve ``/metrics`` and return the :class:`Metrics` to count with.

    ``registry`` defaults to a new one for this app (with process, platform and
    GC metrics); ``multiprocess`` defaults to :func:`is_multiprocess`. The HTTP
    instrumentation is added as the outermost middleware so far: add it after
    every other middleware, so that it sees every request, including those
    answered by a middleware. The handler registered for ``StatsServiceError``
    (``api.errors``) must already be installed: it is wrapped to count
    authentication failures and refused ingests.
    """
    if app.middleware_stack is not None:
        raise RuntimeError("install_metrics must run before the app starts")
    service_handler = app.exception_handlers.get(StatsServiceError)
    if service_handler is None:
        raise RuntimeError("install the StatsServiceError handler before install_metrics")
    owns_registry = registry is None
    registry = CollectorRegistry() if registry is None else registry
    series = HttpSeries(registry)
    metrics = Metrics(registry, version=version, outbox_status=outbox_status, http=series)
    multiprocess = is_multiprocess() if multiprocess is None else multiprocess
    exposition = _exposition_registry(
        metrics, owns_registry=owns_registry, multiprocess=multiprocess
    )
    app.exception_handlers[StatsServiceError] = _counting_handler(service_handler, metrics)
    templates = route_templates or RouteTemplates()

    def instrumented(inner: ASGIApp) -> ASGIApp:
        return _InstrumentatorMiddleware(
            inner,
            route_templates=templates,
            series=series,
            should_group_status_codes=False,
            should_ignore_untemplated=False,
            should_group_untemplated=True,
            excluded_handlers=[f"^{re.escape(METRICS_PATH)}$"],
            instrumentations=[series.instrumentation],
            registry=registry,
        )

    app.add_middleware(instrumented)
    app.add_api_route(
        METRICS_PATH,
        _metrics_endpoint(exposition),
        methods=["GET"],
        include_in_schema=False,
    )
    return metrics
