"""The fast lane answers POST /log/event exactly as the routed endpoint does."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from stats_service.app import create_app
from stats_service.auth import AccessFile, TokenClaims, TokenSigner
from stats_service.settings import load_settings
from stats_service.storage.memory import MemoryStore

KEY = "f" * 48
NOW = 1_800_000_000.0


def _tokens(data_dir: Path) -> dict[str, str]:
    access = AccessFile(data_dir / "access.json")
    signer = TokenSigner([KEY])
    out = {}
    for name, scopes in (("writer", ["write"]), ("reader", ["read"])):
        record = access.add(name, scopes, expires_at=None, now=int(NOW))
        out[name] = signer.issue(TokenClaims(name, record.token_id, record.scopes, int(NOW), None))
    return out


CASES: list[tuple[str, dict[str, str], bytes, str | None]] = [
    (
        "event",
        {"Content-Type": "application/json"},
        b'{"event": "e", "uid": "u", "n": 1, "event_id": "fixed-1"}',
        "writer",
    ),
    ("points", {}, b'[{"measurement": "m", "fields": {"x": 1}, "event_id": "pt-1"}]', "writer"),
    ("no-token", {}, b'{"event": "e", "uid": ""}', None),
    ("read-scope", {}, b'{"event": "e", "uid": ""}', "reader"),
    ("form", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=b", "writer"),
    ("gzip", {"Content-Encoding": "gzip"}, gzip.compress(b'{"event": "e", "uid": ""}'), "writer"),
    ("bad-json", {}, b"{", "writer"),
    ("empty", {}, b"", "writer"),
    ("bad-key", {}, b'{"event": "e", "uid": "", "a-b": 1}', "writer"),
    ("too-large", {}, b'{"event": "e", "uid": "", "s": "' + b"x" * 3000 + b'"}', "writer"),
    ("bad-point", {}, b'[{"measurement": "m", "fields": {}}]', "writer"),
]


def _app(
    data_dir: Path, *, fast_lane: bool = True, max_body_bytes: int = 2048
) -> tuple[FastAPI, dict[str, str], MemoryStore]:
    """An app on a memory store with its tokens (``writer``, ``reader``) and the store."""
    tokens = _tokens(data_dir)
    settings = load_settings(
        None,
        {
            "STATS_DATA_DIR": str(data_dir),
            "STATS_SECRET_KEYS": KEY,
            "STATS_MAX_BODY_BYTES": str(max_body_bytes),
        },
    )
    store = MemoryStore()
    app = create_app(settings, store=store, clock=lambda: NOW, fast_lane=fast_lane)
    return app, tokens, store


def _run(tmp_path: Path, fast_lane: bool, path: str) -> list[tuple[int, Any, str | None]]:
    app, tokens, _ = _app(tmp_path / ("fast" if fast_lane else "routed"), fast_lane=fast_lane)

    async def scenario() -> list[tuple[int, Any, str | None]]:
        results = []
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                for _name, headers, body, who in CASES:
                    sent = dict(headers)
                    if who:
                        sent["Authorization"] = f"Token {tokens[who]}"
                    response = await client.post(path, content=body, headers=sent)
                    results.append(
                        (
                            response.status_code,
                            response.json(),
                            response.headers.get("www-authenticate"),
                        )
                    )
        return results

    return asyncio.run(scenario())


def _normalise(results: list[tuple[int, Any, str | None]]) -> list[tuple[int, Any, str | None]]:
    # Generated ids differ between runs; everything else must match.
    def scrub(body: Any) -> Any:
        if isinstance(body, str) and body.startswith("entry_"):
            return "entry_*"
        return body

    return [(status, scrub(body), challenge) for status, body, challenge in results]


@pytest.mark.parametrize("path", ["/log/event", "/log/event/"], ids=["plain", "slash"])
def test_fast_lane_and_router_answer_alike(tmp_path: Path, path: str) -> None:
    fast = _run(tmp_path, True, path)
    routed = _run(tmp_path, False, path)
    assert _normalise(fast) == _normalise(routed)
    statuses = dict(zip((c[0] for c in CASES), (r[0] for r in fast), strict=True))
    assert statuses == {
        "event": 200,
        "points": 200,
        "no-token": 401,
        "read-scope": 403,
        "form": 415,
        "gzip": 415,
        "bad-json": 400,
        "empty": 400,
        "bad-key": 422,
        "too-large": 413,
        "bad-point": 422,
    }
    assert fast[0][1] == "fixed-1"
    assert fast[1][1] == ["pt-1"]


def test_other_requests_pass_through(tmp_path: Path) -> None:
    settings = load_settings(None, {"STATS_DATA_DIR": str(tmp_path), "STATS_SECRET_KEYS": KEY})
    app = create_app(settings, store=MemoryStore())

    async def scenario() -> list[int]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return [
                    (await client.get("/ping")).status_code,
                    (await client.get("/log/event")).status_code,
                    (await client.post("/log/events", content=b"[]")).status_code,
                ]

    assert asyncio.run(scenario()) == [200, 405, 401]


def _observed(tmp_path: Path, fast_lane: bool, caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    """Request ids, HTTP and ingest metrics, and access lines of the CASES, by lane."""
    data_dir = tmp_path / ("observed-fast" if fast_lane else "observed-routed")
    app, tokens, _ = _app(data_dir, fast_lane=fast_lane)

    async def scenario() -> tuple[list[str | None], str]:
        ids = []
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                for number, (_name, headers, body, who) in enumerate(CASES):
                    sent = {**headers, "X-Request-ID": f"req-{number}"}
                    if who:
                        sent["Authorization"] = f"Token {tokens[who]}"
                    response = await client.post("/log/event", content=body, headers=sent)
                    ids.append(response.headers.get("x-request-id"))
                fresh = await client.post(
                    "/log/event", content=b"{", headers={"X-Request-ID": "bad id"}
                )
                ids.append(fresh.headers.get("x-request-id"))
                scrape = (await client.get("/metrics")).text
        return ids, scrape

    caplog.clear()
    with caplog.at_level("INFO", logger="stats_service.access"):
        ids, scrape = asyncio.run(scenario())
    wanted = ('http_requests_total{handler="/log/event"', "stats_events_", "stats_auth_failures")
    samples = sorted(
        line
        for line in scrape.splitlines()
        if line.startswith(wanted) and "_created" not in line and not line.endswith(" 0.0")
    )
    access = [
        (r.method, r.route, r.status)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "stats_service.access" and getattr(r, "path", "").startswith("/log/event")
    ]
    return {"ids": ids, "samples": samples, "access": access}


def test_fast_lane_keeps_request_ids_metrics_and_access_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fast = _observed(tmp_path, True, caplog)
    routed = _observed(tmp_path, False, caplog)
    assert fast["ids"][:-1] == [f"req-{number}" for number in range(len(CASES))]
    replaced = fast["ids"][-1]  # the sent id was not sane: a fresh one answers
    assert replaced is not None
    assert len(replaced) == 32
    assert fast["samples"] == routed["samples"]
    assert (
        'http_requests_total{handler="/log/event",method="POST",status="200"} 2.0'
        in (fast["samples"])
    )
    assert fast["access"] == routed["access"]
    assert ("POST", "/log/event", 401) in fast["access"]
    assert len(fast["access"]) == len(CASES) + 1


def _raw_post(
    tmp_path: Path, messages: list[dict[str, Any]], headers: list[tuple[bytes, bytes]]
) -> tuple[list[dict[str, Any]], MemoryStore]:
    """Drive the app with raw ASGI messages, the way a server delivers a chunked body."""
    app, tokens, store = _app(tmp_path / "raw", max_body_bytes=64)
    token = tokens["writer"]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/log/event",
        "raw_path": b"/log/event",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"authorization", f"Token {token}".encode()), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, Any]] = []
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)

    asyncio.run(scenario())
    return sent, store


def test_fast_lane_reads_a_body_sent_in_several_messages(tmp_path: Path) -> None:
    parts = [b'{"event": "e", ', b'"uid": "u", ', b'"event_id": "chunked-1"}']
    messages = [
        {"type": "http.request", "body": part, "more_body": index < len(parts) - 1}
        for index, part in enumerate(parts)
    ]
    sent, store = _raw_post(tmp_path, messages, [])
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b'"chunked-1"'
    assert store.event_ids() == ["chunked-1"]


def test_fast_lane_refuses_a_chunked_body_once_it_is_over_the_limit(tmp_path: Path) -> None:
    messages = [{"type": "http.request", "body": b" " * 40, "more_body": True}] * 2
    sent, store = _raw_post(tmp_path, messages, [])
    assert sent[0]["status"] == 413
    assert store.event_ids() == []


def test_fast_lane_answers_nothing_to_a_client_that_hung_up(tmp_path: Path) -> None:
    messages = [
        {"type": "http.request", "body": b'{"event": ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent, store = _raw_post(tmp_path, messages, [])
    assert sent == []
    assert store.event_ids() == []
