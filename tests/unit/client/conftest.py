"""Fixtures for the client's unit tests: scripted transports, a fresh global, no network."""

from __future__ import annotations

import gzip
import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stats_client import Analytics, Request, Response, TransportError


def decode_request(request: Request) -> list[Any]:
    """The JSON items of a ``POST /log/events`` request, gunzipped when needed."""
    body = request.body
    if request.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return json.loads(body)


def accepted(request: Request) -> Response:
    """A 200 answer accepting every item of ``request``."""
    ids = [item["event_id"] for item in decode_request(request)]
    body = json.dumps({"accepted": len(ids), "ids": ids, "rejected": []}).encode()
    return Response(200, {"content-type": "application/json"}, body)


def status(code: int, retry_after: str | None = None, error_code: str = "scripted") -> Response:
    """An error answer with the service's JSON error body."""
    headers = {"content-type": "application/json"}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    body = json.dumps({"error": {"code": error_code, "message": "scripted", "details": None}})
    return Response(code, headers, body.encode())


Answer = Response | Exception | Callable[[Request], Response]


class ScriptedTransport:
    """Answers requests from a script (responses, exceptions or callables), then accepts all.

    ``gate`` (when set) is waited on before answering, to hold a request in flight.
    """

    def __init__(self, *answers: Answer) -> None:
        self.script: deque[Answer] = deque(answers)
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.gate: threading.Event | None = None
        self.closed = False

    def send(self, request: Request, *, timeout_seconds: float | None = None) -> Response:
        with self.lock:
            self.requests.append(request)
            answer: Answer = self.script.popleft() if self.script else accepted
        if self.gate is not None:
            self.gate.wait(10)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, Response):
            return answer
        return answer(request)

    def close(self) -> None:
        self.closed = True

    def items(self) -> list[dict[str, Any]]:
        """Every item of every request, in order (retries repeat items)."""
        with self.lock:
            requests = list(self.requests)
        return [item for request in requests for item in decode_request(request)]


class Helpers:
    """What the tests need from this conftest (test modules cannot import it)."""

    ScriptedTransport = ScriptedTransport
    decode_request = staticmethod(decode_request)
    accepted = staticmethod(accepted)
    status = staticmethod(status)

    @staticmethod
    def network_error() -> TransportError:
        return TransportError("connection refused (scripted)")


@pytest.fixture
def helpers() -> type[Helpers]:
    return Helpers


@pytest.fixture(autouse=True)
def _fresh_global() -> Iterator[None]:
    """Every test starts and ends without a process-wide Analytics instance."""
    Analytics.reset(timeout=0)
    yield
    Analytics.reset(timeout=1)


@pytest.fixture
def make_client() -> Iterator[Callable[..., Analytics]]:
    """Factory of Analytics instances that are closed after the test."""
    made: list[Analytics] = []

    def make(**options: Any) -> Analytics:
        options.setdefault("url", "http://stats.test")
        options.setdefault("access_token", "secret-token")
        options.setdefault("flush_at_exit", False)
        client = Analytics(options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close(timeout=1)
