"""A gzip body must be whole gzip members and nothing else: trailing junk is a 400."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import httpx
import pytest

from stats_service.api.body import gunzip
from stats_service.app import create_app
from stats_service.auth import AccessFile, TokenClaims, TokenSigner
from stats_service.errors import BadRequest
from stats_service.settings import load_settings
from stats_service.storage.memory import MemoryStore

KEY = "f" * 48
NOW = 1_800_000_000.0
BATCH = json.dumps([{"event": "e", "uid": "u"}]).encode()

JUNK = {
    "text": gzip.compress(BATCH) + b"junk",
    "one-byte": gzip.compress(BATCH) + b"\x00",
    "json": gzip.compress(BATCH) + b'[{"event": "smuggled", "uid": ""}]',
    "partial-member": gzip.compress(BATCH) + gzip.compress(BATCH)[:15],
    "magic-only": gzip.compress(BATCH) + b"\x1f\x8b",
}


@pytest.mark.parametrize("name", list(JUNK))
def test_gunzip_refuses_bytes_after_the_last_member(name: str) -> None:
    with pytest.raises(BadRequest):
        gunzip(JUNK[name], 1 << 20)


def test_gunzip_reads_every_member_of_a_multi_member_body() -> None:
    body = gzip.compress(b"[1,") + gzip.compress(b"2]")
    assert gunzip(body, 1 << 20) == b"[1,2]"
    assert gzip.decompress(body) == b"[1,2]"  # what the standard library reads too


def test_the_limit_counts_every_member() -> None:
    body = gzip.compress(b"x" * 600) + gzip.compress(b"y" * 600)
    with pytest.raises(Exception, match="over the limit"):
        gunzip(body, 1000)


def _post_batch(
    data_dir: Path, body: bytes, content_type: str = "application/json"
) -> tuple[httpx.Response, MemoryStore]:
    record = AccessFile(data_dir / "access.json").add(
        "app", ["write"], expires_at=None, now=int(NOW)
    )
    token = TokenSigner([KEY]).issue(
        TokenClaims("app", record.token_id, record.scopes, int(NOW), None)
    )
    settings = load_settings(None, {"STATS_DATA_DIR": str(data_dir), "STATS_SECRET_KEYS": KEY})
    store = MemoryStore()
    app = create_app(settings, store=store, clock=lambda: NOW)
    headers = {
        "Authorization": f"Token {token}",
        "Content-Type": content_type,
        "Content-Encoding": "gzip",
    }

    async def scenario() -> httpx.Response:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await client.post("/log/events", content=body, headers=headers)

    return asyncio.run(scenario()), store


@pytest.mark.parametrize("content_type", ["application/json", "application/x-ndjson"])
@pytest.mark.parametrize("name", list(JUNK))
def test_a_batch_with_junk_after_its_gzip_is_400_and_stores_nothing(
    tmp_path: Path, name: str, content_type: str
) -> None:
    response, store = _post_batch(tmp_path, JUNK[name], content_type)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "bad_request"
    assert "gzip" in error["message"]
    assert store.event_ids() == []


def test_a_multi_member_gzip_batch_is_stored(tmp_path: Path) -> None:
    body = gzip.compress(b'[{"event": "a", "uid": ""},') + gzip.compress(
        b'{"event": "b", "uid": ""}]'
    )
    response, store = _post_batch(tmp_path, body)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2
    assert len(store.event_ids()) == 2


def test_a_body_of_endless_empty_members_is_refused() -> None:
    with pytest.raises(BadRequest, match="members"):
        gunzip(gzip.compress(b"") * 5000, 1 << 20)
