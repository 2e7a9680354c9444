"""``/tokens``: admin only; the token appears once, in the create response; revoke works."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.unit.service.api.app_harness import NOW, Harness, harness_factory


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    build: Callable[..., Harness] = harness_factory(tmp_path)
    return build()


def _create(harness: Harness, body: Any, scope: str = "admin") -> httpx.Response:
    async def scenario(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/tokens", json=body, headers=harness.auth(scope))

    return harness.run(scenario)


def test_admin_lists_token_ids_and_never_tokens(harness: Harness) -> None:
    async def scenario(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/tokens", headers=harness.auth("admin"))

    response = harness.run(scenario)
    assert response.status_code == 200
    tokens = response.json()["tokens"]
    assert [t["identity"] for t in tokens] == ["read-user", "write-user", "admin-user"]
    assert set(tokens[0]) == {
        "token_id", "identity", "scopes", "created_at", "expires_at", "revoked_at"
    }  # fmt: skip
    for token in harness.tokens.values():
        assert token not in response.text


@pytest.mark.parametrize(
    ("scope", "status"), [("read", 403), ("write", 403), (None, 401)], ids=["read", "write", "none"]
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/tokens"), ("POST", "/tokens"), ("DELETE", "/tokens/tok_x")],
    ids=["list", "create", "revoke"],
)
def test_every_tokens_route_needs_admin(
    harness: Harness, scope: str | None, status: int, method: str, path: str
) -> None:
    async def scenario(client: httpx.AsyncClient) -> httpx.Response:
        headers = harness.auth(scope) if scope else {}
        body = {"identity": "x", "scopes": ["read"]} if method == "POST" else None
        return await client.request(method, path, json=body, headers=headers)

    response = harness.run(scenario)
    assert response.status_code == status
    assert response.json()["error"]["code"] == {401: "unauthorized", 403: "forbidden"}[status]


def test_create_answers_the_token_once_and_it_works(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario(client: httpx.AsyncClient) -> tuple[httpx.Response, int, httpx.Response]:
        created = await client.post(
            "/tokens",
            json={"identity": "grafana", "scopes": ["read"], "expires_in": "90d"},
            headers=harness.auth("admin"),
        )
        token = created.json()["token"]
        used = await client.get("/log/events", headers={"Authorization": f"Token {token}"})
        listing = await client.get("/tokens", headers=harness.auth("admin"))
        return created, used.status_code, listing

    created, used, listing = harness.run(scenario)
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    body = created.json()
    assert body["identity"] == "grafana"
    assert body["scopes"] == ["read"]
    assert body["expires_at"] == body["created_at"] + 90 * 86400
    assert body["created_at"] == int(NOW)
    assert used == 200
    assert body["token_id"] in listing.text
    assert body["token"] not in listing.text
    assert body["token"] not in caplog.text
    assert body["token"] not in (harness.data_dir / "access.json").read_text()


def test_a_created_token_has_only_its_scopes(harness: Harness) -> None:
    async def scenario(client: httpx.AsyncClient) -> int:
        created = await client.post(
            "/tokens", json={"identity": "ci", "scopes": ["write"]}, headers=harness.auth("admin")
        )
        token = created.json()["token"]
        return (
            await client.get("/tokens", headers={"Authorization": f"Token {token}"})
        ).status_code

    assert harness.run(scenario) == 403


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"identity": "x", "scopes": ["root"]}, "scopes"),
        ({"identity": "x", "scopes": []}, "scopes"),
        ({"identity": "x", "scopes": "read"}, "scopes"),
        ({"identity": " x", "scopes": ["read"]}, "identity"),
        ({"identity": 7, "scopes": ["read"]}, "identity"),
        ({"identity": "x", "scopes": ["read"], "expires_in": "-1d"}, "expires_in"),
        ({"identity": "x", "scopes": ["read"], "expires_in": 60}, "expires_in"),
        ({"identity": "x", "scopes": ["read"], "token": "mine"}, "token"),
        (["x"], None),
    ],
    ids=[
        "unknown-scope",
        "no-scope",
        "scopes-string",
        "identity-space",
        "identity-number",
        "bad-duration",
        "duration-number",
        "unknown-key",
        "not-object",
    ],
)
def test_bad_create_bodies_are_422_naming_the_key(harness: Harness, body: Any, key: str) -> None:
    response = _create(harness, body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["details"] == {"key": key}


def test_unparseable_and_non_json_bodies_are_400_and_415(harness: Harness) -> None:
    async def scenario(client: httpx.AsyncClient) -> tuple[int, int]:
        headers = harness.auth("admin")
        broken = await client.post(
            "/tokens", content=b"{", headers={**headers, "Content-Type": "application/json"}
        )
        text = await client.post(
            "/tokens", content=b"x", headers={**headers, "Content-Type": "text/plain"}
        )
        return broken.status_code, text.status_code

    assert harness.run(scenario) == (400, 415)


def test_revoke_refuses_the_token_from_then_on(harness: Harness) -> None:
    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        admin = harness.auth("admin")
        listing = (await client.get("/tokens", headers=admin)).json()["tokens"]
        reader = next(t for t in listing if t["identity"] == "read-user")
        first = await client.delete(f"/tokens/{reader['token_id']}", headers=admin)
        again = await client.delete(f"/tokens/{reader['token_id']}", headers=admin)
        refused = await client.get("/log/events", headers=harness.auth("read"))
        unknown = await client.delete("/tokens/tok_0000000000000000", headers=admin)
        return [first, again, refused, unknown]

    first, again, refused, unknown = harness.run(scenario)
    assert first.status_code == 200
    assert first.json()["revoked_at"] == int(NOW)
    assert again.json() == first.json()
    assert refused.status_code == 401
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"


def test_a_corrupt_access_file_is_503_and_left_alone(harness: Harness) -> None:
    async def scenario(client: httpx.AsyncClient) -> httpx.Response:
        # The service keeps the last good content in force; writes refuse to overwrite.
        await client.get("/tokens", headers=harness.auth("admin"))
        (harness.data_dir / "access.json").write_text("{not json")
        return await client.post(
            "/tokens", json={"identity": "x", "scopes": ["read"]}, headers=harness.auth("admin")
        )

    response = harness.run(scenario)
    assert response.status_code == 503
    assert (harness.data_dir / "access.json").read_text() == "{not json"


def test_the_tokens_routes_are_in_the_openapi_document(harness: Harness) -> None:
    async def scenario(client: httpx.AsyncClient) -> dict[str, Any]:
        spec: dict[str, Any] = (await client.get("/openapi.json")).json()
        return spec

    paths = harness.run(scenario)["paths"]
    assert set(paths["/tokens"]) == {"get", "post"}
    assert set(paths["/tokens/{token_id}"]) == {"delete"}
