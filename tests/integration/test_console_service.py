"""The console and the tokens API over HTTP from a real uvicorn-served stats-service."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from service_process import LiveService, ServiceProcess

pytestmark = pytest.mark.integration

ASSETS = ("/console", "/console/static/app.css", "/console/static/js/main.js")


@pytest.mark.parametrize("path", ASSETS, ids=["page", "css", "module"])
def test_console_files_are_served_with_the_policy(live_service: LiveService, path: str) -> None:
    with live_service.client() as client:
        response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert response.headers["x-frame-options"] == "DENY"


def test_tokens_api_round_trip(live_service: LiveService) -> None:
    with live_service.client(live_service.admin) as admin:
        created = admin.post("/tokens", json={"identity": "probe", "scopes": ["read"]})
        assert created.status_code == 201
        token = created.json()["token"]
        token_id = created.json()["token_id"]
        with live_service.client(token) as probe:
            assert probe.get("/log/events").status_code == 200
            assert admin.delete(f"/tokens/{token_id}").status_code == 200
            assert probe.get("/log/events").status_code == 401
        listing = admin.get("/tokens").text
    assert token_id in listing
    assert token not in listing
    assert token not in live_service.process.log_path.read_text(errors="replace")


def test_console_enabled_false_turns_only_the_console_off(
    service_factory: type[ServiceProcess], tmp_path: Path
) -> None:
    process = service_factory(data_dir=tmp_path / "data", extra_env={"STATS_CONSOLE_ENABLED": "0"})
    process.data_dir.mkdir(parents=True)
    admin = process.token("ops", "admin")
    process.start()
    with httpx.Client(base_url=process.url, timeout=10) as client:
        assert client.get("/console").status_code == 404
        ready = client.get("/health/ready").json()
        listed = client.get("/tokens", headers={"Authorization": f"Token {admin}"})
    assert "console" not in ready.get("components", {})
    assert listed.status_code == 200
