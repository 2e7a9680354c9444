"""``limit`` above ``max_page_size`` is a 422 naming ``limit``; OpenAPI states the bound."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from stats_service.app import create_app
from stats_service.auth import AccessFile, TokenClaims, TokenSigner
from stats_service.settings import load_settings
from stats_service.storage.memory import MemoryStore

KEY = "f" * 48
NOW = 1_800_000_000.0


def _get(data_dir: Path, path: str, params: dict[str, str], max_page_size: int) -> httpx.Response:
    record = AccessFile(data_dir / "access.json").add(
        "dash", ["read"], expires_at=None, now=int(NOW)
    )
    token = TokenSigner([KEY]).issue(
        TokenClaims("dash", record.token_id, record.scopes, int(NOW), None)
    )
    settings = load_settings(
        None,
        {
            "STATS_DATA_DIR": str(data_dir),
            "STATS_SECRET_KEYS": KEY,
            "STATS_MAX_PAGE_SIZE": str(max_page_size),
        },
    )
    app = create_app(settings, store=MemoryStore(), clock=lambda: NOW)

    async def scenario() -> httpx.Response:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await client.get(
                    path, params=params, headers={"Authorization": f"Token {token}"}
                )

    return asyncio.run(scenario())


@pytest.mark.parametrize("limit", ["51", "1000000"], ids=["one-over", "far-over"])
def test_limit_over_max_page_size_is_422_naming_limit(tmp_path: Path, limit: str) -> None:
    response = _get(tmp_path, "/log/events", {"limit": limit}, max_page_size=50)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"] == {"key": "limit"}
    assert "50" in error["message"]


@pytest.mark.parametrize("limit", ["1", "50"], ids=["one", "max"])
def test_limit_up_to_max_page_size_is_served(tmp_path: Path, limit: str) -> None:
    response = _get(tmp_path, "/log/events", {"limit": limit}, max_page_size=50)
    assert response.status_code == 200, response.text


def _limit_parameter(spec: dict[str, Any]) -> dict[str, Any]:
    parameters = spec["paths"]["/log/events"]["get"]["parameters"]
    [limit] = [p for p in parameters if p["name"] == "limit"]
    return limit


@pytest.mark.parametrize("max_page_size", [50, 1000], ids=["small", "default"])
def test_openapi_states_the_configured_maximum(tmp_path: Path, max_page_size: int) -> None:
    spec = _get(tmp_path, "/openapi.json", {}, max_page_size=max_page_size).json()
    limit = _limit_parameter(spec)
    assert limit["schema"]["maximum"] == max_page_size
    assert limit["schema"]["minimum"] == 1
    assert str(max_page_size) in limit["description"]
    assert "422" in limit["description"]
