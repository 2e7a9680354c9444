"""POST /write and /api/v2/write: InfluxDB's answers, our tokens, good lines kept."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import hmac
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from stats_service.app import create_app
from stats_service.auth import AccessFile, TokenClaims, TokenSigner
from stats_service.auth.legacy import import_legacy
from stats_service.settings import load_settings
from stats_service.storage.base import EventQuery
from stats_service.storage.memory import MemoryStore

KEY = "k" * 48
NOW = 1_800_000_000.0
T = 1_700_000_000_000_000_000

Scenario = Callable[[httpx.AsyncClient, dict[str, str], MemoryStore], Coroutine[Any, Any, None]]


def _run(tmp_path: Path, scenario: Scenario, **env: str) -> None:
    access = AccessFile(tmp_path / "access.json")
    signer = TokenSigner([KEY])
    tokens = {}
    for name, scopes in (("writer", ["write"]), ("reader", ["read"])):
        record = access.add(name, scopes, expires_at=None, now=int(NOW))
        tokens[name] = signer.issue(
            TokenClaims(name, record.token_id, record.scopes, int(NOW), None)
        )
    settings = load_settings(
        None,
        {"STATS_DATA_DIR": str(tmp_path), "STATS_SECRET_KEYS": KEY, **env},
    )
    store = MemoryStore()
    app = create_app(settings, store=store, clock=lambda: NOW)

    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                await scenario(client, tokens, store)

    asyncio.run(main())


async def _all(store: MemoryStore) -> list[Any]:
    page = await store.query(EventQuery(since_ns=0, until_ns=2**63 - 1, limit=1000))
    return page.events


def _v2(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


def test_v2_write_stores_points(tmp_path):
    async def scenario(client, tokens, store):
        body = b'cpu,host=a usage=0.5,n=3i,ok=true,s="x" 1700000000\nmem used=7i 1700000001\n'
        response = await client.post(
            "/api/v2/write?org=o&bucket=b&precision=s", content=body, headers=_v2(tokens["writer"])
        )
        assert response.status_code == 204, response.text
        assert response.content == b""
        events = sorted(await _all(store), key=lambda e: e.time_ns)
        assert [(e.measurement, e.time_ns) for e in events] == [("cpu", T), ("mem", T + 10**9)]
        assert events[0].tags == {"host": "a", "identity": "writer"}
        assert events[0].fields == {"usage": 0.5, "n": 3, "ok": True, "s": "x"}

    _run(tmp_path, scenario)


def test_v1_write_with_query_credentials_basic_auth_and_token(tmp_path):
    async def scenario(client, tokens, store):
        token = tokens["writer"]
        basic = base64.b64encode(f"someone:{token}".encode()).decode()
        answers = [
            await client.post("/write?db=d&u=someone&p=" + token, content=b"a v=1"),
            await client.post(
                "/write?db=d", content=b"b v=1", headers={"Authorization": f"Basic {basic}"}
            ),
            await client.post("/write?db=d", content=b"c v=1", headers=_v2(token)),
        ]
        assert [r.status_code for r in answers] == [204, 204, 204]
        assert sorted(e.measurement for e in await _all(store)) == ["a", "b", "c"]

    _run(tmp_path, scenario)


def test_partial_write_keeps_good_lines_and_names_the_first_bad_one(tmp_path):
    async def scenario(client, tokens, store):
        body = b"m v=1 1\nm v=NaN 2\n# comment\nm v=3 3\nm,a=1,a=2 v=4\n"
        v1 = await client.post("/write?db=d", content=body, headers=_v2(tokens["writer"]))
        assert v1.status_code == 400
        assert v1.json() == {
            "error": "partial write: unable to parse 'm v=NaN 2': invalid number (line 2); "
            "1 more line(s) refused dropped=2"
        }
        v2 = await client.post(
            "/api/v2/write?bucket=b", content=b"x\n", headers=_v2(tokens["writer"])
        )
        assert v2.status_code == 400
        assert v2.json() == {
            "code": "invalid",
            "message": "unable to parse 'x': missing fields (line 1)",
        }
        assert sorted(e.fields["v"] for e in await _all(store)) == [1.0, 3.0]

    _run(tmp_path, scenario)


def test_lines_the_event_model_refuses_are_named_too(tmp_path):
    async def scenario(client, tokens, store):
        body = (
            b"ok v=1\nbad-key,a-b=1 v=1\nok,identity=x v=2\nok v=1 -5\n"
            b"ok big=18446744073709551615u\n"
        )
        response = await client.post(
            "/api/v2/write?bucket=b", content=body, headers=_v2(tokens["writer"])
        )
        assert response.status_code == 400
        message = response.json()["message"]
        assert message.startswith("partial write: unable to parse 'bad-key,a-b=1 v=1': ")
        assert "(line 2); 3 more line(s) refused dropped=4" in message
        assert [e.fields for e in await _all(store)] == [{"v": 1.0}]

    _run(tmp_path, scenario)


def test_event_id_field_becomes_the_id_and_is_readable(tmp_path):
    async def scenario(client, tokens, store):
        body = b'm v=1,event_id="lp-1" 5\nm v=2,event_id="lp-1" 5\n'
        response = await client.post(
            "/api/v2/write?bucket=b", content=body, headers=_v2(tokens["writer"])
        )
        assert response.status_code == 204
        assert (await store.get("lp-1")) is not None

    _run(tmp_path, scenario)


def test_gzip_body(tmp_path):
    async def scenario(client, tokens, store):
        response = await client.post(
            "/api/v2/write?bucket=b",
            content=gzip.compress(b"g v=1\n" * 100),
            headers={**_v2(tokens["writer"]), "Content-Encoding": "gzip"},
        )
        assert response.status_code == 204
        assert len(await _all(store)) == 100

    _run(tmp_path, scenario)


def test_gzip_bomb_is_413_and_bad_gzip_is_400(tmp_path):
    async def scenario(client, tokens, store):
        bomb = gzip.compress(b"x" * (8 * 1024 * 1024), compresslevel=9)
        headers = {**_v2(tokens["writer"]), "Content-Encoding": "gzip"}
        response = await client.post("/api/v2/write?bucket=b", content=bomb, headers=headers)
        assert response.status_code == 413
        response = await client.post("/write?db=d", content=b"not gzip", headers=headers)
        assert response.status_code == 400
        assert response.json() == {"error": "body is not valid gzip"}
        assert await _all(store) == []

    _run(tmp_path, scenario, STATS_MAX_DECOMPRESSED_BYTES="1048576")


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/write", 400, {"error": "database is required"}),
        (
            "/write?db=d&precision=d",
            400,
            {"error": "invalid precision 'd' (use n, u, ms, s, m or h)"},
        ),
        ("/api/v2/write", 400, {"code": "invalid", "message": "bucket is required"}),
        (
            "/api/v2/write?bucket=b&precision=h",
            400,
            {
                "code": "invalid",
                "message": "invalid precision 'h': valid precisions are ns, us, ms and s",
            },
        ),
    ],
    ids=["no-db", "v1-precision", "no-bucket", "v2-precision"],
)
def test_parameter_errors(tmp_path, path, status, body):
    async def scenario(client, tokens, store):
        response = await client.post(path, content=b"m v=1", headers=_v2(tokens["writer"]))
        assert (response.status_code, response.json()) == (status, body)
        assert await _all(store) == []

    _run(tmp_path, scenario)


def test_auth_answers_are_ours(tmp_path):
    async def scenario(client, tokens, store):
        missing = await client.post("/api/v2/write?bucket=b", content=b"m v=1")
        bad = await client.post("/write?db=d&u=x&p=nonsense", content=b"m v=1")
        reader = await client.post("/write?db=d&p=" + tokens["reader"], content=b"m v=1")
        assert [missing.status_code, bad.status_code, reader.status_code] == [401, 401, 403]
        assert missing.json()["error"]["code"] == "unauthorized"
        assert reader.json()["error"]["code"] == "forbidden"
        assert await _all(store) == []

    _run(tmp_path, scenario)


def test_too_many_lines_is_413(tmp_path):
    async def scenario(client, tokens, store):
        response = await client.post(
            "/api/v2/write?bucket=b", content=b"m v=1\n" * 11, headers=_v2(tokens["writer"])
        )
        assert response.status_code == 413
        assert await _all(store) == []

    _run(tmp_path, scenario, STATS_MAX_BATCH_EVENTS="10")


def test_long_lines_are_refused_alone(tmp_path):
    async def scenario(client, tokens, store):
        body = b'm v=1\nm s="' + b"x" * 200 + b'"\n'
        response = await client.post(
            "/api/v2/write?bucket=b", content=body, headers=_v2(tokens["writer"])
        )
        assert response.status_code == 400
        assert "at most 100 are allowed (line 2)" in response.json()["message"]
        assert len(await _all(store)) == 1

    _run(tmp_path, scenario, STATS_MAX_LINE_BYTES="100")


def test_empty_body_is_204(tmp_path):
    async def scenario(client, tokens, store):
        response = await client.post(
            "/api/v2/write?bucket=b", content=b"", headers=_v2(tokens["writer"])
        )
        assert response.status_code == 204

    _run(tmp_path, scenario)


def test_token_in_the_query_string_is_never_logged(tmp_path, caplog):
    async def scenario(client, tokens, store):
        with caplog.at_level(logging.DEBUG):
            await client.post("/write?db=d&u=x&p=" + tokens["writer"], content=b"m v=1")
            await client.post("/write?db=d&u=x&p=" + tokens["writer"], content=b"bad")
            await client.post("/write?db=d&u=x&p=" + tokens["writer"] + "x", content=b"m v=1")
        # The test's own HTTP client logs its URLs; everything the service logs counts.
        service = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
        text = "\n".join(r.getMessage() + str(r.__dict__) for r in service)
        assert "/write" in text  # the access line is there
        assert tokens["writer"] not in text

    _run(tmp_path, scenario)


def test_points_are_readable_by_measurement(tmp_path):
    async def scenario(client, tokens, store):
        await client.post(
            "/api/v2/write?bucket=b",
            content=b"lpm v=1 5\nother v=2 6",
            headers=_v2(tokens["writer"]),
        )
        response = await client.get("/log/events?measurement=lpm", headers=_v2(tokens["reader"]))
        events = orjson.loads(response.content)["events"]
        assert [(e["measurement"], e["v"], e["identity"]) for e in events] == [
            ("lpm", 1.0, "writer")
        ]

    _run(tmp_path, scenario)


def test_imported_legacy_tokens_write_when_accepted(tmp_path):
    secret = "legacy-secret-0123456789"
    payload = b'{"expires": 10, "salt": "bc8218", "identity": "statsbob"}'
    signature = hmac.new(secret.encode(), payload, hashlib.sha512).digest()
    legacy = base64.urlsafe_b64encode(payload + signature).decode()
    import_legacy(
        [("statsbob", legacy, secret)],
        access=AccessFile(tmp_path / "access.json"),
        mode="accept",
        scopes=["write"],
        legacy_secret_file=tmp_path / "legacy-secrets.json",
        signer=None,
        now=int(NOW),
    )

    async def scenario(client, tokens, store):
        answers = [
            await client.post("/write", params={"db": "d", "p": legacy}, content=b"a v=1"),
            await client.post("/api/v2/write?bucket=b", content=b"b v=1", headers=_v2(legacy)),
            await client.post("/log/event", json={"event": "e", "uid": ""}, headers=_v2(legacy)),
        ]
        assert [r.status_code for r in answers] == [204, 204, 200]
        assert {e.tags["identity"] for e in await _all(store)} == {"statsbob"}

    _run(tmp_path, scenario, STATS_ACCEPT_LEGACY_TOKENS="true")

    async def refused(client, tokens, store):
        response = await client.post(
            "/api/v2/write?bucket=b", content=b"b v=1", headers=_v2(legacy)
        )
        assert response.status_code == 401

    _run(tmp_path, refused)


def test_a_body_over_a_mebibyte_is_parsed_off_the_event_loop_alike(tmp_path):
    async def scenario(client, tokens, store):
        body = b"".join(b'big,host=h%05d v=%di,s="%s"\n' % (n, n, b"x" * 40) for n in range(20_000))
        assert len(body) > 1 << 20
        response = await client.post(
            "/api/v2/write?bucket=b", content=body + b"bad\n", headers=_v2(tokens["writer"])
        )
        assert response.status_code == 400
        assert "(line 20001)" in response.json()["message"]
        assert len(await _all_big(store)) == 20_000

    _run(tmp_path, scenario, STATS_MAX_BATCH_EVENTS="20001")


async def _all_big(store: MemoryStore) -> list[Any]:
    page = await store.query(EventQuery(since_ns=0, until_ns=2**63 - 1, limit=100_000))
    return page.events
