"""``/monitors`` on a real uvicorn service, checking the real loopback website."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from fake_website import FakeWebsite
from service_process import LiveService

pytestmark = pytest.mark.integration


@pytest.fixture
def admin(live_service: LiveService) -> Iterator[httpx.Client]:
    with live_service.client(live_service.admin) as client:
        yield client


@pytest.fixture
def reader(live_service: LiveService) -> Iterator[httpx.Client]:
    with live_service.client(live_service.reader) as client:
        yield client


def spec(website: FakeWebsite, path: str = "/status/200", **extra: object) -> dict[str, object]:
    return {"name": f"site-{uuid.uuid4().hex[:8]}", "url": website.url(path), **extra}


def create(admin: httpx.Client, body: dict[str, object]) -> dict[str, object]:
    response = admin.post("/monitors", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    error: dict[str, object] = response.json()["error"]
    assert error["code"] == code
    assert set(error) == {"code", "message", "details"}
    return error


def test_create_get_list_patch_and_delete(admin, reader, website: FakeWebsite):
    path = f"/text/{uuid.uuid4().hex}"
    body = spec(website, path, tags=["web", "prod"], headers={"Authorization": "Bearer s3cret"})
    created = create(admin, body)
    monitor_id = created["id"]
    assert created["headers"] == {"Authorization": "<redacted>"}
    assert "s3cret" not in reader.get(f"/monitors/{monitor_id}").text
    listed = reader.get("/monitors", params={"tag": "prod"}).json()["monitors"]
    assert [m["id"] for m in listed] == [monitor_id]
    assert listed[0]["state"] in ("pending", "up")
    assert reader.get("/monitors", params={"tag": "nope"}).json()["monitors"] == []
    shown = reader.get(f"/monitors/{monitor_id}").json()
    resent = admin.patch(f"/monitors/{monitor_id}", json={"headers": shown["headers"]})
    assert resent.status_code == 200
    assert admin.post(f"/monitors/{monitor_id}/run").json()["ok"] is True
    # The stored credential was kept, not replaced by the marker.
    assert website.last_headers[path]["Authorization"] == "Bearer s3cret"
    patched = admin.patch(f"/monitors/{monitor_id}", json={"interval_seconds": 30})
    assert patched.status_code == 200
    assert patched.json()["interval_seconds"] == 30
    assert patched.json()["name"] == body["name"]
    assert admin.delete(f"/monitors/{monitor_id}").status_code == 204
    assert_error(reader.get(f"/monitors/{monitor_id}"), 404, "not_found")


def test_run_now_answers_and_records_the_result(admin, reader, website: FakeWebsite):
    monitor_id = create(admin, spec(website, "/status/503", interval_seconds=3600))["id"]
    result = admin.post(f"/monitors/{monitor_id}/run").json()
    assert result["ok"] is False
    assert result["status_code"] == 503
    assert result["failures"][0]["condition"] == "status_range"
    assert result["latency_ms"] > 0
    results = admin.get(f"/monitors/{monitor_id}/results").json()
    assert result["id"] in [r["id"] for r in results["results"]]
    status = admin.get(f"/monitors/{monitor_id}/status").json()
    assert status["state"] == "down"
    assert status["up"] is False
    assert status["windows"]["24h"]["checks"] >= 1
    assert status["windows"]["24h"]["uptime_percent"] < 100
    rollups = admin.get(f"/monitors/{monitor_id}/rollups", params={"granularity": "hour"}).json()
    assert sum(row["status_counts"].get("503", 0) for row in rollups["rollups"]) >= 1


def test_pause_twice_is_idempotent_and_resume_restores(live_service, admin, reader, website):
    monitor_id = create(admin, spec(website))["id"]
    first = admin.post(f"/monitors/{monitor_id}/pause")
    second = admin.post(f"/monitors/{monitor_id}/pause")
    assert first.status_code == second.status_code == 200
    assert first.json()["paused"] is second.json()["paused"] is True
    assert first.json()["updated_at"] == second.json()["updated_at"]
    paused = admin.get("/monitors", params={"state": "paused"}).json()["monitors"]
    assert monitor_id in [m["id"] for m in paused]
    assert admin.post(f"/monitors/{monitor_id}/resume").json()["paused"] is False


def test_delete_while_a_check_is_running_leaves_nothing(live_service, admin, reader, website):
    monitor_id = create(admin, spec(website, "/delay/1500", interval_seconds=3600))["id"]
    with httpx.Client(base_url=live_service.url, headers=admin.headers, timeout=10) as slow:
        answers: list[httpx.Response] = []
        running = threading.Thread(
            target=lambda: answers.append(slow.post(f"/monitors/{monitor_id}/run"))
        )
        running.start()
        time.sleep(0.4)
        assert admin.delete(f"/monitors/{monitor_id}").status_code == 204
        running.join(10)
    assert answers[0].status_code == 200  # the check itself completed
    assert_error(admin.get(f"/monitors/{monitor_id}/results"), 404, "not_found")
    assert monitor_id not in [m["id"] for m in admin.get("/monitors").json()["monitors"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"interval_seconds": 2}, "interval_seconds"),
        ({"url": "ftp://example.org/"}, "url"),
        ({"method": "BREW"}, "method"),
        ({"colour": "red"}, "colour"),
        ({"conditions": {"status_range": [500, 200]}}, "status_range"),
        ({"conditions": {"max_response_ms": -1}}, "max_response_ms"),
        ({"name": ""}, "name"),
    ],
    ids=["interval", "url", "method", "unknown-key", "range-order", "negative-ms", "empty-name"],
)
def test_bad_definitions_are_422_naming_the_field(
    live_service, admin, reader, website, change, field
):
    error = assert_error(admin.post("/monitors", json={**spec(website), **change}), 422, "invalid")
    assert field in str(error["message"])
    monitor_id = create(admin, spec(website))["id"]
    patched = assert_error(admin.patch(f"/monitors/{monitor_id}", json=change), 422, "invalid")
    assert field in str(patched["message"])


def test_unknown_ids_are_404_and_scopes_are_enforced(live_service, admin, reader, website):
    for method, path in [
        ("GET", "/monitors/mon_nope"),
        ("PATCH", "/monitors/mon_nope"),
        ("DELETE", "/monitors/mon_nope"),
        ("POST", "/monitors/mon_nope/pause"),
        ("POST", "/monitors/mon_nope/run"),
        ("GET", "/monitors/mon_nope/status"),
        ("GET", "/monitors/mon_nope/rollups"),
    ]:
        kwargs = {"json": {}} if method == "PATCH" else {}
        assert_error(admin.request(method, path, **kwargs), 404, "not_found")
    assert_error(reader.post("/monitors", json=spec(website)), 403, "forbidden")
    with live_service.client(live_service.writer) as writer:
        assert_error(writer.get("/monitors"), 403, "forbidden")
    with live_service.client() as anonymous:
        assert_error(anonymous.get("/monitors"), 401, "unauthorized")


def test_a_taken_name_is_a_conflict(live_service, admin, reader, website):
    body = spec(website)
    create(admin, body)
    assert_error(admin.post("/monitors", json=body), 409, "conflict")


def test_bad_windows_and_granularity_are_422(live_service, admin, reader, website):
    monitor_id = create(admin, spec(website))["id"]
    base = f"/monitors/{monitor_id}"
    assert_error(admin.get(f"{base}/rollups", params={"granularity": "day"}), 422, "invalid")
    assert_error(admin.get(f"{base}/results", params={"since": "soon"}), 422, "invalid")
    assert_error(admin.get(f"{base}/results", params={"since": 10, "until": 5}), 422, "invalid")
    assert_error(admin.get(f"{base}/results", params={"cursor": "zzz"}), 422, "invalid")
