"""A 405 names, in its ``Allow`` header, every method the path does serve."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from stats_service.app import create_app
from stats_service.settings import load_settings
from stats_service.storage.memory import MemoryStore

KEY = "f" * 48


def _request(data_dir: Path, method: str, path: str) -> httpx.Response:
    """One request to the whole app (lifespan, middleware, fast lane) in process."""
    settings = load_settings(None, {"STATS_DATA_DIR": str(data_dir), "STATS_SECRET_KEYS": KEY})
    app = create_app(settings, store=MemoryStore())

    async def scenario() -> httpx.Response:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await client.request(method, path)

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/log/event/", "POST"),
        ("DELETE", "/log/event", "POST"),
        ("GET", "/log/event", "POST"),
        ("PUT", "/ping", "GET, HEAD"),
        ("POST", "/ping", "GET, HEAD"),
        ("PATCH", "/health/live", "GET"),
        ("POST", "/health/ready", "GET"),
        ("DELETE", "/log/events", "GET, POST"),
        ("PUT", "/log/event/entry_1", "GET"),
        ("POST", "/", "GET"),
    ],
    ids=[
        "delete-event-slash",
        "delete-event",
        "get-event",
        "put-ping",
        "post-ping",
        "patch-live",
        "post-ready",
        "delete-events",
        "put-event-id",
        "post-root",
    ],
)
def test_405_lists_the_allowed_methods(tmp_path: Path, method: str, path: str, allow: str) -> None:
    response = _request(tmp_path, method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_unknown_path_is_404_without_allow(tmp_path: Path) -> None:
    response = _request(tmp_path, "DELETE", "/nowhere")
    assert response.status_code == 404
    assert "allow" not in response.headers
