"""``install_observability`` on a small FastAPI app with the service's real error handlers."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from prometheus_fastapi_instrumentator.middleware import PrometheusInstrumentatorMiddleware

from stats_service import observability
from stats_service.api.errors import install_error_handlers
from stats_service.api.slashes import TrailingSlashMiddleware
from stats_service.auth import AuthenticationFailed
from stats_service.errors import InvalidEvent, PayloadTooLarge
from stats_service.observability import (
    Metrics,
    NullMetrics,
    OutboxSnapshot,
    configure_logging,
    install_observability,
)


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/log/event")
    async def log_event(request: Request) -> str:
        auth = request.headers.get("authorization")
        if auth is None:
            raise AuthenticationFailed("missing")
        if auth != "Token good":
            raise AuthenticationFailed("bad_signature")
        body = await request.json()
        if "uid" not in body:
            raise InvalidEvent("uid is required", key="uid")
        return "entry_1"

    @app.post("/log/events")
    async def log_events() -> None:
        raise PayloadTooLarge("too big")

    @app.get("/log/event/{event_id}")
    async def get_event(event_id: str) -> str:
        return event_id

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("unexpected")

    return app


def _request(app: FastAPI, *calls: tuple[str, str, dict]) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.request(method, url, **kw) for method, url, kw in calls]

    return asyncio.run(go())


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _get(samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging(log_format="json", level="info", stream=stream)
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_metrics_endpoint_counts_http_and_service_errors():
    app = _app()
    metrics = install_observability(app, version="1.2.3", registry=CollectorRegistry()).metrics
    assert isinstance(metrics, Metrics)
    responses = _request(
        app,
        (
            "POST",
            "/log/event",
            {"json": {"event": "a", "uid": "u"}, "headers": {"Authorization": "Token good"}},
        ),
        (
            "POST",
            "/log/event",
            {"json": {"event": "a"}, "headers": {"Authorization": "Token good"}},
        ),
        ("POST", "/log/event", {"json": {}, "headers": {"Authorization": "Token forged"}}),
        ("POST", "/log/event", {"json": {}}),
        ("POST", "/log/events", {"json": []}),
        ("GET", "/log/event/entry_abc", {}),
        ("GET", "/no/such/path", {}),
        ("GET", "/metrics", {}),
    )
    assert [r.status_code for r in responses] == [200, 422, 401, 401, 413, 200, 404, 200]
    assert responses[-1].headers["content-type"].startswith("text/plain")
    samples = _samples(responses[-1].text)
    assert _get(samples, "stats_build_info", version="1.2.3") == 1.0
    assert _get(samples, "stats_events_rejected_total", reason="invalid_event") == 1.0
    assert _get(samples, "stats_events_rejected_total", reason="unauthorized") == 2.0
    assert _get(samples, "stats_events_rejected_total", reason="payload_too_large") == 1.0
    assert _get(samples, "stats_auth_failures_total", reason="missing") == 1.0
    assert _get(samples, "stats_auth_failures_total", reason="bad_signature") == 1.0
    http = "http_requests_total"
    assert _get(samples, http, handler="/log/event", method="POST", status="200") == 1.0
    assert _get(samples, http, handler="/log/event", method="POST", status="401") == 2.0
    assert _get(samples, http, handler="/log/event/{event_id}", method="GET", status="200") == 1.0
    assert _get(samples, http, handler="none", method="GET", status="404") == 1.0
    assert not any(dict(labels).get("handler") == "/metrics" for _, labels in samples)
    assert (
        _get(samples, "http_request_duration_seconds_count", handler="/log/event", method="POST")
        == 4.0
    )
    assert ("process_cpu_seconds_total", frozenset()) not in samples, (
        "an injected registry must not get process metrics added"
    )


def test_own_registry_by_default_with_process_metrics():
    first, second = _app(), _app()
    install_observability(first, version="1")
    install_observability(second, version="1")
    _request(first, ("POST", "/log/event", {"json": {}}))
    first_text = _request(first, ("GET", "/metrics", {}))[0].text
    second_text = _request(second, ("GET", "/metrics", {}))[0].text
    first_samples, second_samples = _samples(first_text), _samples(second_text)
    assert _get(first_samples, "stats_auth_failures_total", reason="missing") == 1.0
    assert _get(second_samples, "stats_auth_failures_total", reason="missing") == 0.0
    assert any(name == "process_cpu_seconds_total" for name, _ in first_samples)


def test_openmetrics_is_served_when_asked_for():
    app = _app()
    install_observability(app, version="1")
    response = _request(
        app,
        ("GET", "/metrics", {"headers": {"Accept": "application/openmetrics-text; version=1.0.0"}}),
    )[0]
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


class _AnsweringMiddleware:
    """Answers ``POST /fast`` itself, as the service's ingest fast lane does."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] in ("/log/event", "/log/event/"):
            logging.getLogger("stats_service.lane").warning("answered by the lane")
            await send({"type": "http.response.start", "status": 202, "headers": []})
            await send({"type": "http.response.body", "body": b'"lane"'})
            return
        await self.app(scope, receive, send)


def test_requests_answered_by_a_middleware_are_observed_too(json_logs):
    app = _app()
    app.add_middleware(TrailingSlashMiddleware)
    app.add_middleware(_AnsweringMiddleware)
    install_observability(app, version="1")  # last: it wraps both
    responses = _request(
        app,
        ("POST", "/log/event", {"json": {}, "headers": {"X-Request-ID": "lane-1"}}),
        ("POST", "/log/event/", {"json": {}}),
        ("GET", "/log/event/x/", {}),
        ("GET", "/metrics/", {}),
    )
    assert [r.status_code for r in responses] == [202, 202, 200, 200]
    assert responses[0].headers["x-request-id"] == "lane-1"
    assert "x-request-id" in responses[1].headers
    samples = _samples(responses[-1].text)
    http = "http_requests_total"
    assert _get(samples, http, handler="/log/event", method="POST", status="202") == 2.0
    assert _get(samples, http, handler="/log/event/{event_id}", method="GET", status="200") == 1.0
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    lane = next(line for line in lines if line["logger"] == "stats_service.lane")
    assert lane["request_id"] == "lane-1"
    access = [line for line in lines if line["logger"] == "stats_service.access"]
    assert [(a["route"], a["path"], a["status"]) for a in access] == [
        ("/log/event", "/log/event", 202),
        ("/log/event", "/log/event/", 202),
        ("/log/event/{event_id}", "/log/event/x/", 200),
    ]


def test_the_instrumentator_hook_we_override_exists():
    """Our route naming replaces this method; if the library renames it, we must know."""
    assert callable(getattr(PrometheusInstrumentatorMiddleware, "_get_handler", None))


def test_outbox_gauges_come_from_the_status_callback():
    app = _app()
    metrics = install_observability(
        app,
        version="1",
        outbox_status=lambda: OutboxSnapshot(pending_events=42, pending_bytes=4200),
    ).metrics
    samples = _samples(_request(app, ("GET", "/metrics", {}))[0].text)
    assert _get(samples, "stats_outbox_depth_events") == 42.0
    assert _get(samples, "stats_outbox_bytes") == 4200.0
    metrics.watch_outbox(None)
    samples = _samples(_request(app, ("GET", "/metrics", {}))[0].text)
    assert _get(samples, "stats_outbox_depth_events") is None


def test_metrics_disabled_keeps_request_ids_and_serves_no_metrics():
    app = _app()
    metrics = install_observability(app, version="1", metrics_enabled=False).metrics
    assert isinstance(metrics, NullMetrics)
    ping, scrape = _request(app, ("GET", "/log/event/x", {}), ("GET", "/metrics", {}))
    assert len(ping.headers["x-request-id"]) == 32
    assert scrape.status_code == 404


def test_every_response_carries_the_request_id_and_logs_tie_to_it(json_logs):
    app = _app()
    install_observability(app, version="1")
    ok, refused = _request(
        app,
        ("GET", "/log/event/x", {"headers": {"X-Request-ID": "from-the-client"}}),
        (
            "POST",
            "/log/event",
            {"json": {}, "headers": {"Authorization": "Token forged-token-value"}},
        ),
    )
    assert ok.headers["x-request-id"] == "from-the-client"
    generated = refused.headers["x-request-id"]
    assert generated != "from-the-client"
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "stats_service.access"]
    assert [(a["request_id"], a["route"], a["status"]) for a in access] == [
        ("from-the-client", "/log/event/{event_id}", 200),
        (generated, "/log/event", 401),
    ]
    assert "forged-token-value" not in json_logs.getvalue()


def test_an_unexpected_error_is_logged_with_its_request_id(json_logs):
    app = _app()
    install_observability(app, version="1")
    response = _request(app, ("GET", "/crash", {"headers": {"X-Request-ID": "crash-1"}}))[0]
    assert response.status_code == 500
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    error = next(line for line in lines if line["level"] == "error")
    assert error["request_id"] == "crash-1"
    assert "RuntimeError: unexpected" in error["exception"]
    access = next(line for line in lines if line["logger"] == "stats_service.access")
    assert (access["status"], access["request_id"]) == (500, "crash-1")


def test_install_needs_the_error_handlers_first():
    with pytest.raises(RuntimeError, match="StatsServiceError handler"):
        install_observability(FastAPI(), version="1")


def test_install_refuses_a_started_app():
    app = _app()
    _request(app, ("GET", "/log/event/x", {}))
    with pytest.raises(RuntimeError, match="before the app starts"):
        install_observability(app, version="1")


def test_public_surface():
    assert sorted(observability.__all__) == [
        "ACCESS_LOGGER",
        "CATALOGUE",
        "JsonFormatter",
        "LogFormat",
        "METRICS_PATH",
        "MetricSpec",
        "Metrics",
        "MetricsRecorder",
        "NullMetrics",
        "Observability",
        "OutboxGauges",
        "OutboxSnapshot",
        "REQUEST_ID_HEADER",
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
    for name in observability.__all__:
        assert getattr(observability, name) is not None


@pytest.mark.parametrize(
    ("method", "path", "handler"),
    [("POST", "/log/event", "/log/event"), ("GET", "/crash", "/crash")],
    ids=["ingest-route", "other-route"],
)
def test_a_crashing_request_counts_as_500_on_every_route(method, path, handler):
    app = _app()

    @app.post("/log/event", include_in_schema=False)
    async def crash_ingest() -> None:
        raise RuntimeError("unexpected")

    app.router.routes.insert(0, app.router.routes.pop())  # before the original POST /log/event
    install_observability(app, version="1", registry=CollectorRegistry())
    crashed, scraped = _request(app, (method, path, {"json": {}}), ("GET", "/metrics", {}))
    assert crashed.status_code == 500
    samples = _samples(scraped.text)
    http = "http_requests_total"
    assert _get(samples, http, handler=handler, method=method, status="500") == 1.0
    assert (
        _get(samples, "http_request_duration_seconds_count", handler=handler, method=method) == 1.0
    )
