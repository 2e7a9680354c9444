"""Observability: Prometheus metrics, structured logs and request ids, installed in one call.

``create_app`` calls :func:`install_observability` once, last (after the
error handlers, routers and every other middleware, so that it wraps them)::

    observability = install_observability(app, version=__version__)

and hands ``observability.metrics`` (a :class:`MetricsRecorder`) to whatever
counts things, and ``observability.requests`` (a :class:`RequestLog`) to a
route answered outside the middleware, so it gets the same request ids and
access lines.
``configure_logging`` is called by whatever starts the server, never at import.

- :mod:`.catalogue`: every exposed metric, its type, labels and meaning;
- :mod:`.recorder`: :class:`Metrics` / :class:`NullMetrics`, what the code counts with;
- :mod:`.gauges`: the scrape-time outbox gauges and build info;
- :mod:`.http_series`: the HTTP series and their middleware;
- :mod:`.metrics`: ``/metrics`` and installing all of the above on an app.
- :mod:`.logging`: text or JSON log lines, the request-id and access-log
  middleware, redaction of tokens and secrets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from stats_service.observability.catalogue import CATALOGUE, METRICS_PATH, MetricSpec
from stats_service.observability.gauges import OutboxGauges, OutboxSnapshot
from stats_service.observability.logging import (
    ACCESS_LOGGER,
    REQUEST_ID_HEADER,
    JsonFormatter,
    LogFormat,
    Redactor,
    RequestContextMiddleware,
    RequestLog,
    RouteTemplates,
    TextFormatter,
    configure_logging,
    current_request_id,
)
from stats_service.observability.metrics import install_metrics, is_multiprocess
from stats_service.observability.recorder import Metrics, MetricsRecorder, NullMetrics

if TYPE_CHECKING:
    from fastapi import FastAPI

    from stats_service.observability.gauges import OutboxStatusSource

__all__ = [
    "ACCESS_LOGGER",
    "CATALOGUE",
    "METRICS_PATH",
    "REQUEST_ID_HEADER",
    "JsonFormatter",
    "LogFormat",
    "MetricSpec",
    "Metrics",
    "MetricsRecorder",
    "NullMetrics",
    "Observability",
    "OutboxGauges",
    "OutboxSnapshot",
    "Redactor",
    "RequestContextMiddleware",
    "RequestLog",
    "RouteTemplates",
    "TextFormatter",
    "configure_logging",
    "current_request_id",
    "install_observability",
    "is_multiprocess",
]


@dataclass(frozen=True, slots=True)
class Observability:
    """What :func:`install_observability` installed: the recorder and the request log."""

    metrics: MetricsRecorder
    """Counts events, errors and deliveries: :class:`Metrics`, or :class:`NullMetrics`."""
    requests: RequestLog
    """Request ids and access lines, shared with routes answered outside the middleware."""


def install_observability(
    app: FastAPI,
    *,
    version: str,
    metrics_enabled: bool = True,
    access_log: bool = True,
    registry: CollectorRegistry | None = None,
    outbox_status: OutboxStatusSource | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Observability:
    """Add request ids, access logs and (unless disabled) metrics to ``app``.

    Call it last: after the error handlers, routers and every other middleware,
    before the app starts. Its middleware then wraps all the others, so every
    request gets a request id, an access line and HTTP metrics, including
    requests a middleware answers itself. Returns the recorder to count with
    (:class:`Metrics`, or :class:`NullMetrics` when ``metrics_enabled`` is
    false: then there is no ``/metrics``) and the request log. The outbox
    status may also be attached later with ``watch_outbox``.
    """
    if app.middleware_stack is not None:
        raise RuntimeError("install_observability must run before the app starts")
    route_templates = RouteTemplates()
    recorder: MetricsRecorder = NullMetrics()
    if metrics_enabled:
        recorder = install_metrics(
            app,
            version=version,
            registry=registry,
            outbox_status=outbox_status,
            route_templates=route_templates,
        )
    requests = RequestLog(access_log=access_log, clock=clock, route_templates=route_templates)
    # Added last, so it is the outermost layer: its request id covers the rest.
    app.add_middleware(RequestContextMiddleware, request_log=requests)
    return Observability(metrics=recorder, requests=requests)
