"""Transports: the in-memory one answers like the service; HTTP settings resolve correctly."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from stats_client import ConfigurationError, HTTPTransport, MemoryTransport, Request, Transport


def post(path, payload, *, gzipped=False):
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return Request("POST", path, headers, body)


def test_both_transports_satisfy_the_protocol():
    assert isinstance(MemoryTransport(), Transport)
    assert isinstance(HTTPTransport("http://127.0.0.1:1"), Transport)


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_memory_batch_is_stored_and_answered(gzipped):
    transport = MemoryTransport()
    items = [{"event": "a", "uid": "u", "event_id": "entry_1"}, {"event": "b", "uid": "u"}]
    response = transport.send(post("/log/events", items, gzipped=gzipped))
    assert response.status == 200
    answer = response.json()
    assert answer["accepted"] == 2
    assert answer["ids"][0] == "entry_1"
    assert answer["rejected"] == []
    assert [event["event"] for event in transport.events] == ["a", "b"]


def test_memory_keeps_an_event_id_once():
    transport = MemoryTransport()
    item = {"event": "a", "uid": "u", "event_id": "entry_1"}
    transport.send(post("/log/events", [item]))
    transport.send(post("/log/events", [item]))
    assert len(transport.events) == 1
    assert len(transport.requests) == 2


def test_memory_single_event_get_and_404():
    transport = MemoryTransport()
    response = transport.send(post("/log/event/", {"event": "a", "uid": "u", "event_id": "x1"}))
    assert response.json() == "x1"
    found = transport.send(Request("GET", "/log/event/x1"))
    assert found.json()["event"] == "a"
    missing = transport.send(Request("GET", "/log/event/nope"))
    assert missing.status == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_memory_ping():
    response = MemoryTransport().send(Request("GET", "/ping"))
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (Request("POST", "/log/events", {"Content-Encoding": "gzip"}, b"not gzip"), 400),
        (Request("POST", "/log/events", {}, b"{not json"), 400),
        (post("/log/events", {"event": "a"}), 422),
        (post("/log/event", [1]), 422),
        (Request("DELETE", "/log/events"), 404),
        (Request("GET", "/elsewhere"), 404),
    ],
    ids=["bad-gzip", "bad-json", "batch-not-array", "event-not-object", "method", "route"],
)
def test_memory_errors_use_the_service_error_shape(request_, code):
    response = MemoryTransport().send(request_)
    assert response.status == code
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_memory_rejects_items_that_are_not_objects():
    answer = MemoryTransport().send(post("/log/events", [{"event": "a", "uid": ""}, 5])).json()
    assert answer["accepted"] == 1
    assert answer["rejected"] == [{"index": 1, "error": "item is not an object"}]


def test_memory_clear():
    transport = MemoryTransport()
    transport.send(post("/log/events", [{"event": "a", "uid": ""}]))
    transport.clear()
    assert transport.events == []
    assert transport.requests == []


def test_response_header_lookup_ignores_case():
    response = MemoryTransport().send(Request("GET", "/ping"))
    assert response.header("Content-Type") == "application/json"
    assert response.header("X-Missing") is None


# -- HTTPTransport settings (no connection is made here) --------------------------------


@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_explicit_proxy_with_credentials(no_proxy_env):
    transport = HTTPTransport(
        "http://stats.example:8080/base", proxy_url="http://u%40x:p@proxy:3128"
    )
    assert transport._proxy is not None
    assert (transport._proxy.hostname, transport._proxy.port) == ("proxy", 3128)
    expected = base64.b64encode(b"u@x:p").decode()
    assert transport._proxy_headers == {"Proxy-Authorization": f"Basic {expected}"}
    assert transport._target("/log/events") == "http://stats.example:8080/base/log/events"
    assert "p@proxy" not in repr(transport)


def test_environment_proxy_is_used_when_trusted(no_proxy_env):
    no_proxy_env.setenv("HTTPS_PROXY", "http://envproxy:3128")
    trusted = HTTPTransport("https://stats.example")
    untrusted = HTTPTransport("https://stats.example", trust_env=False)
    assert trusted._proxy is not None
    assert trusted._proxy.hostname == "envproxy"
    assert untrusted._proxy is None
    # Through a tunnel the request target stays relative.
    assert trusted._target("/ping") == "/ping"


def test_no_proxy_and_loopback_bypass_the_proxy(no_proxy_env):
    no_proxy_env.setenv("HTTP_PROXY", "http://envproxy:3128")
    no_proxy_env.setenv("NO_PROXY", "internal.example")
    assert HTTPTransport("http://internal.example")._proxy is None
    assert HTTPTransport("http://127.0.0.1:20080")._proxy is None
    assert HTTPTransport("http://localhost:20080")._proxy is None
    assert HTTPTransport("http://public.example")._proxy is not None


def test_https_proxies_are_refused(no_proxy_env):
    with pytest.raises(ConfigurationError, match="proxy"):
        HTTPTransport("http://stats.example", proxy_url="https://proxy:3128")


def test_url_credentials_never_appear_in_repr(no_proxy_env):
    transport = HTTPTransport("http://user:pass@stats.example/prefix/")
    assert repr(transport) == "HTTPTransport(http://stats.example/prefix)"


def test_bad_url_is_refused():
    with pytest.raises(ConfigurationError):
        HTTPTransport("stats.example")
