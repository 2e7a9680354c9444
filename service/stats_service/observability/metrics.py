"""``/metrics`` and the HTTP instrumentation, installed on an app in one call.

:func:`install_metrics` builds the :class:`~.recorder.Metrics` of an app,
serves them (with the scrape-time gauges of :mod:`.gauges`) and adds the
middleware of :mod:`.http_series`. The catalogue is :mod:`.catalogue`.

Several worker processes: prometheus_client switches itself to multiprocess
mode when ``PROMETHEUS_MULTIPROC_DIR`` names a directory at the time it is
first imported (it reads that variable itself). Counters and histograms are
then kept in files there, and ``/metrics`` sums the files of every process;
the scrape-time gauges come from the process that answers the scrape.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    values,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Scope

from stats_service.errors import StatsServiceError
from stats_service.observability.catalogue import METRICS_PATH
from stats_service.observability.gauges import OutboxStatusSource
from stats_service.observability.http_series import HttpSeries, InstrumentatorMiddleware
from stats_service.observability.logging import RouteTemplates
from stats_service.observability.recorder import Metrics

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["install_metrics", "is_multiprocess"]


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
        return InstrumentatorMiddleware(
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
