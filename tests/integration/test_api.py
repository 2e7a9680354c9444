"""The HTTP API end to end: a real uvicorn process, real tokens, the embedded store."""

from __future__ import annotations

import gzip
import json
import re
import socket
import time

import httpx
import pytest
from service_process import LiveService

pytestmark = pytest.mark.integration

ENTRY_ID = re.compile(r"^entry_[0-9a-f]{32}$")
INJECTION = "x'; drop database analytics; select '"


def _error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert "Traceback" not in response.text
    if code is not None:
        assert body["error"]["code"] == code
    detail: dict[str, object] = body["error"]
    return detail


@pytest.mark.parametrize("path", ["/", "/ping", "/ping/"], ids=["root", "ping", "ping-slash"])
def test_ping_needs_no_token(live_service: LiveService, path: str) -> None:
    response = httpx.get(live_service.url + path)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["name"] == "stats-service"
    assert re.match(r"^\d+\.\d+\.\d+", body["version"])


def test_ping_answers_head(live_service: LiveService) -> None:
    response = httpx.head(live_service.url + "/ping")
    assert response.status_code == 200
    assert response.content == b""


def test_original_curl_flow_stores_and_returns_the_event(live_service: LiveService) -> None:
    data = {"event": "pnc.test", "uid": "oisin", "now": "Mon 25 Apr 2016 13:29:48 BST"}
    with live_service.client(live_service.admin) as client:
        posted = client.post(
            "/log/event/",
            content=json.dumps(data),
            headers={"Accept": "application/json", "Content-Type": "application/json"},
        )
        assert posted.status_code == 200, posted.text
        event_id = posted.json()
        assert ENTRY_ID.match(event_id)

        fetched = client.get(f"/log/event/{event_id}")
    assert fetched.status_code == 200
    stored = fetched.json()
    assert stored["event_id"] == event_id
    assert stored["event"] == "pnc.test"
    assert stored["uid"] == "oisin"
    assert stored["now"] == data["now"]
    assert stored["identity"] == "ops"
    assert stored["measurement"] == "analytics"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$", stored["time"])


def test_client_event_id_is_idempotent(live_service: LiveService) -> None:
    event = {"event": "order.paid", "uid": "u1", "event_id": "order-42-paid", "amount": 10}
    with live_service.client(live_service.admin) as client:
        first = client.post("/log/event", json=event)
        second = client.post("/log/event", json={**event, "amount": 99})
        assert first.json() == second.json() == "order-42-paid"
        stored = client.get("/log/event/order-42-paid").json()
    assert stored["amount"] == 10


def test_list_of_points_returns_their_ids(live_service: LiveService) -> None:
    points = [
        {"measurement": "cpu", "tags": {"host": "a"}, "fields": {"load": 0.5}},
        {"measurement": "cpu", "tags": {"host": "a"}, "fields": {"load": 0.7}},
    ]
    with live_service.client(live_service.admin) as client:
        response = client.post("/log/event", json=points)
        assert response.status_code == 200, response.text
        ids = response.json()
        assert len(ids) == 2
        assert len(set(ids)) == 2
        loads = [client.get(f"/log/event/{i}").json()["load"] for i in ids]
    assert loads == [0.5, 0.7]


def test_invalid_point_in_list_stores_none(live_service: LiveService) -> None:
    points = [
        {"measurement": "cpu", "fields": {"load": 1.5}, "event_id": "pt-good-1"},
        {"measurement": "cpu", "fields": {"bad key": 1}},
    ]
    with live_service.client(live_service.admin) as client:
        response = client.post("/log/event", json=points)
        error = _error(response, 422)
        assert "point 1" in str(error["message"])
        assert client.get("/log/event/pt-good-1").status_code == 404


def test_batch_keeps_valid_items_and_reports_invalid_ones(live_service: LiveService) -> None:
    items = [
        {"event": "batch.ok", "uid": "a", "n": 1},
        {"event": "batch.bad", "uid": "b", "bad-key": 1},
        {"uid": "missing event"},
        {"measurement": "mem", "fields": {"used": 3}},
        "not an object",
    ]
    with live_service.client(live_service.admin) as client:
        response = client.post("/log/events", json=items)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["accepted"] == 2
        assert [r["index"] for r in body["rejected"]] == [1, 2, 4]
        assert "bad-key" in body["rejected"][0]["error"]
        for event_id in body["ids"]:
            assert client.get(f"/log/event/{event_id}").status_code == 200


def test_batch_accepts_gzip_ndjson(live_service: LiveService) -> None:
    lines = [json.dumps({"event": "nd.json", "uid": str(i), "i": i}) for i in range(50)]
    lines.insert(10, "{not json")
    body = gzip.compress("\n".join(lines).encode())
    with live_service.client(live_service.writer) as client:
        response = client.post(
            "/log/events",
            content=body,
            headers={"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
        )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["accepted"] == 50
    assert [r["index"] for r in result["rejected"]] == [10]


def test_window_query_is_half_open_ordered_and_paginated(live_service: LiveService) -> None:
    base = 1_700_000_000
    uid = f"window-{time.time_ns()}"
    events = [
        {"event": "win.test", "uid": uid, "time": base + i, "i": i, "event_id": f"{uid}-{i:02d}"}
        for i in range(25)
    ]
    with live_service.client(live_service.admin) as client:
        assert client.post("/log/events", json=events).json()["accepted"] == 25
        seen: list[int] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, str | int] = {
                "event": "win.test",
                "uid": uid,
                "since": str(base + 5),
                "until": "2023-11-14T22:13:40Z",  # base + 20, excluded
                "limit": 4,
            }
            if cursor:
                params["cursor"] = cursor
            page = client.get("/log/events", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            seen += [e["i"] for e in body["events"]]
            pages += 1
            cursor = body["next_cursor"]
            if not cursor:
                break
    assert seen == list(range(5, 20))
    assert pages == 4


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "nan"}, "until"),
        ({"cursor": "%%%"}, "cursor"),
        ({"cursor": "WzEsMl0"}, "cursor"),
        ({"since": "2024-01-02", "until": "2024-01-01"}, "until"),
        ({"limit": "0"}, None),
    ],
    ids=["bad-since", "nan-until", "garbage-cursor", "forged-cursor", "inverted", "zero-limit"],
)
def test_window_query_rejects_bad_parameters(
    live_service: LiveService, params: dict[str, str], key: str | None
) -> None:
    with live_service.client(live_service.reader) as client:
        error = _error(client.get("/log/events", params=params), 422)
    if key is not None:
        assert error["details"] == {"key": key}


def test_injection_through_ids_and_filters_changes_nothing(live_service: LiveService) -> None:
    with live_service.client(live_service.admin) as client:
        event_id = client.post("/log/event", json={"event": "inj.guard", "uid": "g"}).json()
        _error(client.get(f"/log/event/{INJECTION}"), 404, "not_found")
        _error(client.get("/log/event/x' OR '1'='1"), 404)
        listed = client.get("/log/events", params={"event": INJECTION, "uid": "' OR 1=1 --"})
        assert listed.status_code == 200
        assert listed.json()["events"] == []
        # The value is data, stored verbatim, and the store still works.
        stored_id = client.post("/log/event", json={"event": INJECTION, "uid": INJECTION}).json()
        assert client.get(f"/log/event/{stored_id}").json()["uid"] == INJECTION
        assert client.get(f"/log/event/{event_id}").status_code == 200


def test_unknown_event_is_404_json(live_service: LiveService) -> None:
    with live_service.client(live_service.reader) as client:
        _error(client.get("/log/event/entry_00000000000000000000000000000000"), 404, "not_found")


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "missing"),
        ("Token", "malformed"),
        ("Basic dXNlcjpwYXNz", "malformed"),
        ("Token not-a-token", "malformed"),
    ],
    ids=["missing", "no-token", "basic", "garbage"],
)
def test_bad_credentials_get_401_with_challenge(
    live_service: LiveService, authorization: str | None, reason: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.post(
        f"{live_service.url}/log/event", json={"event": "e", "uid": ""}, headers=headers
    )
    _error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Token")
    assert reason  # the reason is logged and counted, not shown to the client


def test_tampered_token_is_rejected_and_never_echoed(live_service: LiveService) -> None:
    token = live_service.writer
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    response = httpx.post(
        f"{live_service.url}/log/event",
        json={"event": "e", "uid": ""},
        headers={"Authorization": f"Token {tampered}"},
    )
    _error(response, 401)
    assert tampered not in response.text
    assert token not in response.text


def test_scopes_are_enforced(live_service: LiveService) -> None:
    with live_service.client(live_service.reader) as reader:
        _error(reader.post("/log/event", json={"event": "e", "uid": ""}), 403, "forbidden")
    with live_service.client(live_service.writer) as writer:
        event_id = writer.post("/log/event", json={"event": "e", "uid": ""}).json()
        _error(writer.get(f"/log/event/{event_id}"), 403, "forbidden")


def test_expired_token_is_401(live_service: LiveService) -> None:
    token = live_service.process.token("shortlived", "write", expires_in="1s")
    time.sleep(2.1)
    response = httpx.post(
        f"{live_service.url}/log/event",
        json={"event": "e", "uid": ""},
        headers={"Authorization": f"Token {token}"},
    )
    _error(response, 401)


def test_revocation_takes_effect_without_restart(live_service: LiveService) -> None:
    token = live_service.process.token("temp", "write")
    with live_service.client(token) as client:
        assert client.post("/log/event", json={"event": "e", "uid": ""}).status_code == 200
        token_id = _token_id(live_service, "temp")
        live_service.process.cli("token", "revoke", token_id)
        _error(client.post("/log/event", json={"event": "e", "uid": ""}), 401)


def _token_id(live_service: LiveService, identity: str) -> str:
    listing = live_service.process.cli("token", "list").stdout
    ids = [line.split()[0] for line in listing.splitlines()[1:] if line.split()[1] == identity]
    assert ids, listing
    return ids[-1]


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"", {"Content-Type": "application/json"}, 400, "bad_request"),
        (b"{", {"Content-Type": "application/json"}, 400, "bad_request"),
        (b'{"event": "\xff\xfe", "uid": ""}', {"Content-Type": "application/json"}, 400, None),
        (b"[" * 5000 + b"]" * 5000, {"Content-Type": "application/json"}, 400, None),
        (b"event=x", {"Content-Type": "application/x-www-form-urlencoded"}, 415, None),
        (b'{"event": "e", "uid": ""}', {"Content-Encoding": "br"}, 415, None),
        (b'{"uid": "x"}', {"Content-Type": "application/json"}, 422, "invalid_event"),
        (b'"just a string"', {"Content-Type": "application/json"}, 422, "invalid_event"),
        (b'{"event": "e", "uid": "", "a": ' + b'{"b": ' * 30 + b"1" + b"}" * 31, {}, 422, None),
    ],
    ids=[
        "empty",
        "truncated",
        "invalid-utf8",
        "deep-nesting",
        "form-encoded",
        "brotli",
        "missing-event",
        "not-object",
        "nested-too-deep",
    ],
)
def test_bad_bodies_get_clear_errors(
    live_service: LiveService, body: bytes, headers: dict[str, str], status: int, code: str | None
) -> None:
    with live_service.client(live_service.writer) as client:
        _error(client.post("/log/event", content=body, headers=headers), status, code)


def test_bad_key_names_the_key(live_service: LiveService) -> None:
    with live_service.client(live_service.writer) as client:
        response = client.post("/log/event", json={"event": "e", "uid": "", "user-agent": "x"})
    error = _error(response, 422, "invalid_event")
    assert error["details"] == {"key": "user-agent"}
    assert "user-agent" in str(error["message"])


def test_huge_string_is_rejected(live_service: LiveService) -> None:
    with live_service.client(live_service.writer) as client:
        response = client.post("/log/event", json={"event": "e", "uid": "", "s": "x" * 20_000})
    _error(response, 422)


def test_oversized_body_is_413_before_reading(live_service: LiveService) -> None:
    with live_service.client(live_service.writer) as client:
        response = client.post(
            "/log/event",
            content=b"{" + b" " * 2_000_000 + b"}",
            headers={"Content-Type": "application/json"},
        )
    _error(response, 413, "payload_too_large")


def test_gzip_bomb_is_413(live_service: LiveService) -> None:
    bomb = gzip.compress(b"[" + b" " * 100_000_000 + b"]", compresslevel=9)
    assert len(bomb) < 200_000
    with live_service.client(live_service.writer) as client:
        response = client.post(
            "/log/events",
            content=bomb,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
    _error(response, 413, "payload_too_large")


def test_bad_gzip_is_400(live_service: LiveService) -> None:
    with live_service.client(live_service.writer) as client:
        response = client.post(
            "/log/events",
            content=b"\x1f\x8b not gzip at all",
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
    _error(response, 400)


def test_batch_over_event_limit_is_413(service_factory, tmp_path) -> None:
    service = service_factory(
        data_dir=tmp_path / "limits", extra_env={"STATS_MAX_BATCH_EVENTS": "3"}
    )
    token = service.token("limited", "write")
    service.start()
    response = httpx.post(
        f"{service.url}/log/events",
        json=[{"event": "e", "uid": str(i)} for i in range(4)],
        headers={"Authorization": f"Token {token}"},
    )
    _error(response, 413)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("DELETE", "/log/event", 405), ("GET", "/nowhere", 404), ("PUT", "/ping", 405)],
    ids=["delete-event", "unknown-path", "put-ping"],
)
def test_routing_errors_are_json(
    live_service: LiveService, method: str, path: str, status: int
) -> None:
    _error(httpx.request(method, live_service.url + path), status)


def test_405_over_http_names_the_allowed_methods(live_service: LiveService) -> None:
    response = httpx.delete(live_service.url + "/log/event/")
    _error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"
    assert httpx.patch(live_service.url + "/health/live").headers["allow"] == "GET"


def test_openapi_describes_every_route(live_service: LiveService) -> None:
    spec = httpx.get(live_service.url + "/openapi.json").json()
    assert set(spec["paths"]) >= {
        "/",
        "/ping",
        "/log/event",
        "/log/events",
        "/log/event/{event_id}",
    }
    assert "requestBody" in spec["paths"]["/log/event"]["post"]
    assert httpx.get(live_service.url + "/docs").status_code == 200


def test_service_log_holds_no_tokens(live_service: LiveService) -> None:
    with live_service.client(live_service.writer) as client:
        client.post("/log/event", json={"event": "log.check", "uid": ""})
    log = live_service.process.log_path.read_text(errors="replace")
    for token in (live_service.writer, live_service.reader, live_service.admin):
        assert token not in log
    assert live_service.process.secret_key not in log


@pytest.mark.parametrize("path", ["/health/live", "/health/ready/"], ids=["live", "ready"])
def test_health_probes(live_service: LiveService, path: str) -> None:
    response = httpx.get(live_service.url + path)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_ready_reports_the_storage_backend(live_service: LiveService) -> None:
    storage = httpx.get(live_service.url + "/health/ready").json()["storage"]
    assert storage["backend"] == "embedded"
    assert storage["ok"] is True


def test_client_hanging_up_mid_body_is_not_a_server_error(live_service: LiveService) -> None:
    host, port = "127.0.0.1", live_service.process.port
    request = (
        "POST /log/event HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        f"Authorization: Token {live_service.writer}\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n"
        '{"event": "half'
    )
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(request.encode())
    time.sleep(0.3)
    assert httpx.get(f"{live_service.url}/ping").status_code == 200
    log = live_service.process.log_tail(200)
    assert "Traceback" not in log
    assert "unhandled error" not in log
