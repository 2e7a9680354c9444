"""Requests uvicorn refuses before the app sees them get the house JSON 400 too.

Raw sockets, because no HTTP client sends these: a 100 KB URL, a bad or
negative Content-Length, a header value with a bare newline, bytes that are
not HTTP at all. Both of uvicorn's HTTP/1.1 protocols are covered, through
``stats-service serve`` and through the uvicorn command line as README shows.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator

import pytest
from service_process import LiveService, ServiceProcess

pytestmark = pytest.mark.integration

MALFORMED = {
    "long-url": b"GET /ping?" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n",
    "content-length-word": b"POST /log/event HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n{}",
    "content-length-negative": (
        b"POST /log/event HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n{}"
    ),
    "content-length-twice": (
        b"POST /log/event HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"
    ),
    "newline-in-header": b"GET /ping HTTP/1.1\r\nHost: t\r\nX-Note: a\nb\r\n\r\n",
    "not-http": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
}


class _UvicornProcess(ServiceProcess):
    """The service under the uvicorn command line with one ``--http`` protocol."""

    protocol: str = "h11"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "stats_service.app:create_app_from_env",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--http",
            f"stats_service.api.protocols:{self.protocol}",
            "--no-server-header",
        ]


@pytest.fixture(scope="module", params=["JsonErrorsH11Protocol", "JsonErrorsHttpToolsProtocol"])
def uvicorn_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    process = _UvicornProcess(data_dir=tmp_path_factory.mktemp("raw") / "data")
    process.protocol = request.param
    process.start()
    try:
        yield request.param, process.url
    finally:
        process.stop()


def _exchange(url: str, data: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def _assert_house_400(answer: bytes) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    assert status_line == "HTTP/1.1 400 Bad Request", answer[:300]
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body)
    error = json.loads(body)
    assert set(error) == {"error"}
    assert set(error["error"]) == {"code", "message", "details"}
    assert error["error"]["code"] == "bad_request"


@pytest.mark.parametrize("name", list(MALFORMED))
def test_stats_service_serve_answers_malformed_http_in_json(
    live_service: LiveService, name: str
) -> None:
    _assert_house_400(_exchange(live_service.url, MALFORMED[name]))


@pytest.mark.parametrize("name", list(MALFORMED))
def test_uvicorn_with_the_json_protocols_answers_malformed_http_in_json(
    uvicorn_url: tuple[str, str], name: str
) -> None:
    protocol, url = uvicorn_url
    answer = _exchange(url, MALFORMED[name])
    if name == "long-url" and protocol == "JsonErrorsH11Protocol":
        # h11 limits only a request still arriving; one sent whole is served.
        assert answer.startswith(b"HTTP/1.1 200 OK"), answer[:300]
        return
    _assert_house_400(answer)


def test_a_good_request_after_a_bad_one_is_served(live_service: LiveService) -> None:
    _assert_house_400(_exchange(live_service.url, MALFORMED["not-http"]))
    good = b"GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    answer = _exchange(live_service.url, good)
    assert answer.startswith(b"HTTP/1.1 200 OK")
