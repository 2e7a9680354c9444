"""The console's routes: security headers everywhere, feature detection, the summary."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter

from stats_service.api.component import ComponentHealth
from stats_service.api.dependencies import Components
from stats_service.components import ComponentSpec
from stats_service.console.headers import CONTENT_SECURITY_POLICY
from stats_service.errors import ConfigurationError
from stats_service.settings import load_settings
from stats_service.subsystems import SUBSYSTEMS
from tests.unit.service.api.app_harness import Harness, harness_factory


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return harness_factory(tmp_path)()


@pytest.mark.parametrize(
    ("path", "status", "media_type"),
    [
        ("/console", 200, "text/html"),
        ("/console/", 200, "text/html"),
        ("/console/static/app.css", 200, "text/css"),
        ("/console/static/js/main.js", 200, "text/javascript"),
        ("/console/static/nothing.js", 404, "application/json"),
        ("/console/static/../settings.py", 404, "application/json"),
        ("/console/elsewhere", 404, "application/json"),
        ("/console/api/features", 401, "application/json"),
        ("/console/api/summary", 401, "application/json"),
    ],
    ids=[
        "page",
        "page-slash",
        "css",
        "module",
        "no-asset",
        "dotdot",
        "other",
        "features",
        "summary",
    ],
)
def test_every_console_response_carries_the_policy(
    harness: Harness, path: str, status: int, media_type: str
) -> None:
    async def scenario(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(path)

    response = harness.run(scenario)
    assert response.status_code == status
    assert response.headers["content-type"].startswith(media_type)
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    if status >= 400:
        assert "error" in response.json()


def test_the_policy_allows_nothing_inline_or_foreign() -> None:
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert directives["frame-ancestors"] == "'none'"


def test_the_page_has_no_inline_script_or_style_and_no_foreign_url(harness: Harness) -> None:
    async def scenario(client: httpx.AsyncClient) -> str:
        return (await client.get("/console")).text

    page = harness.run(scenario)
    assert "<style" not in page
    assert " style=" not in page
    assert "<script>" not in page
    assert "http://" not in page
    assert "https://" not in page
    assert '<script type="module" src="/console/static/js/main.js"></script>' in page


def _features(harness: Harness, scope: str = "read") -> dict[str, Any]:
    async def scenario(client: httpx.AsyncClient) -> dict[str, Any]:
        response = await client.get("/console/api/features", headers=harness.auth(scope))
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body

    return harness.run(scenario)


def test_features_name_what_exists_and_who_asks(tmp_path: Path) -> None:
    console_only = tuple(spec for spec in SUBSYSTEMS if spec.name == "console")
    body = _features(harness_factory(tmp_path)(subsystems=console_only), "admin")
    assert body["features"] == {"tokens": True, "stream": False, "monitors": False}
    assert body["identity"] == "admin-user"
    assert body["scopes"] == ["admin", "read", "write"]


class _Fake:
    """Stands in for the stream and monitors subsystems: only their paths matter here."""

    name = "fake"

    def __init__(self) -> None:
        router = APIRouter()

        async def stream() -> dict[str, str]:
            return {}

        router.add_api_route("/log/stream", stream)
        router.add_api_route("/monitors/{monitor_id}/status", stream)
        self._router = router

    def routers(self) -> Sequence[APIRouter]:
        return (self._router,)

    async def start(self, core: Components) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def health(self) -> ComponentHealth:
        return ComponentHealth(ok=True)


def test_features_light_up_when_their_apis_exist(tmp_path: Path) -> None:
    body = _features(harness_factory(tmp_path)(subsystems=SUBSYSTEMS))
    assert body["features"] == {"tokens": True, "stream": True, "monitors": True}


def test_features_follow_the_paths_not_the_subsystem_names(tmp_path: Path) -> None:
    console_only = tuple(spec for spec in SUBSYSTEMS if spec.name == "console")
    specs = (*console_only, ComponentSpec(name="fake", build=lambda _settings: _Fake()))
    body = _features(harness_factory(tmp_path)(subsystems=specs))
    assert body["features"] == {"tokens": True, "stream": True, "monitors": True}


def test_console_enabled_false_serves_no_console(tmp_path: Path) -> None:
    harness = harness_factory(tmp_path)(extra_env={"STATS_CONSOLE_ENABLED": "false"})

    async def scenario(client: httpx.AsyncClient) -> tuple[int, int]:
        page = await client.get("/console")
        tokens = await client.get("/tokens", headers=harness.auth("admin"))
        return page.status_code, tokens.status_code

    assert harness.run(scenario) == (404, 200)


def _summary(harness: Harness, events: list[dict[str, Any]]) -> dict[str, Any]:
    async def scenario(client: httpx.AsyncClient) -> dict[str, Any]:
        if events:
            posted = await client.post("/log/events", json=events, headers=harness.auth("write"))
            assert posted.json()["accepted"] == len(events)
        response = await client.get("/console/api/summary", headers=harness.auth("read"))
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        body: dict[str, Any] = response.json()
        return body

    return harness.run(scenario)


def test_summary_counts_the_last_hour_per_minute_and_by_type(harness: Harness) -> None:
    # The summary reads the wall clock, so the events are placed relative to it.
    now = time.time()
    events = [
        {"event": "signup", "uid": "a", "time": now - 30},
        {"event": "signup", "uid": "b", "time": now - 30},
        {"event": "login", "uid": "a", "time": now - 600},
        {"event": "old", "uid": "a", "time": now - 7200},
    ]
    body = _summary(harness, events)
    ingest = body["ingest"]
    assert len(ingest["per_minute"]) == 60
    assert sum(ingest["per_minute"]) == 3
    assert ingest["per_minute"][-1] + ingest["per_minute"][-2] == 2
    assert ingest["complete"] is True
    assert body["events_by_type"] == [
        {"event": "signup", "count": 2},
        {"event": "login", "count": 1},
    ]
    assert body["storage"]["ok"] is True
    assert body["outbox"] is None  # the in-memory store writes directly


def test_summary_stops_at_its_bound_and_says_so(tmp_path: Path) -> None:
    harness = harness_factory(tmp_path)(
        extra_env={"STATS_CONSOLE_SUMMARY_MAX_EVENTS": "5", "STATS_MAX_PAGE_SIZE": "2"}
    )
    now = time.time()
    body = _summary(harness, [{"event": "e", "uid": str(i), "time": now - i} for i in range(9)])
    assert body["ingest"]["scanned"] == 5
    assert body["ingest"]["complete"] is False
    assert sum(body["ingest"]["per_minute"]) == 5


def test_summary_with_no_events_is_all_zero(harness: Harness) -> None:
    body = _summary(harness, [])
    assert body["ingest"]["per_minute"] == [0] * 60
    assert body["events_by_type"] == []


@pytest.mark.parametrize(
    "name", ["STATS_CONSOLE_SUMMARY_MAX_EVENTS", "STATS_CONSOLE_REFRESH_SECONDS"], ids=str
)
def test_console_numbers_must_be_positive(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigurationError, match=name.removeprefix("STATS_").lower()):
        load_settings(None, {"STATS_DATA_DIR": str(tmp_path), name: "0"})
