"""The HTTP series and the instrumentation middleware that records them.

prometheus-fastapi-instrumentator records ``http_requests_total`` and
``http_request_duration_seconds`` for every request; the ingest routes skip
its per-request objects and record the same two series directly.
"""

from __future__ import annotations

from collections.abc import Callable
from timeit import default_timer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_fastapi_instrumentator.metrics import Info
from prometheus_fastapi_instrumentator.middleware import PrometheusInstrumentatorMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HttpSeries", "InstrumentatorMiddleware"]

_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


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


class InstrumentatorMiddleware(PrometheusInstrumentatorMiddleware):
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
