"""Upstream HTTP behind one small Protocol: the real one uses httpx, tests use memory.

Every failure becomes a :class:`~stats_client.collect.errors.PollError`
with its reason (``unreachable``, ``timeout``, ``http_status``,
``not_json``). Messages name the method, the URL without its query string
and the status, never a header value.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from stats_client.collect.errors import PollError, Reason

__all__ = ["Fetcher", "HttpRequest", "HttpxFetcher", "MemoryFetcher"]


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One upstream request."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    body: Any = None
    timeout_seconds: float = 10.0

    @property
    def shown(self) -> str:
        """Method and URL without query or credentials, for messages."""
        parts = urllib.parse.urlsplit(self.url)
        host = parts.netloc.rpartition("@")[2]
        return f"{self.method} {parts.scheme}://{host}{parts.path}"


class Fetcher(Protocol):
    """Fetches and decodes one JSON answer; raises PollError on any failure."""

    def fetch_json(self, request: HttpRequest) -> Any:
        """The decoded JSON body of a 2xx answer."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def decode_json(status: int, body: bytes, request: HttpRequest) -> Any:
    """The JSON of a 2xx ``body``; PollError for other statuses and for non-JSON."""
    if not 200 <= status < 300:
        raise PollError(Reason.HTTP_STATUS, f"{request.shown} answered {status}")
    try:
        return json.loads(body)
    except ValueError:
        raise PollError(Reason.NOT_JSON, f"{request.shown} answered with non-JSON") from None


class HttpxFetcher:
    """The real fetcher: one pooled httpx client for every source (thread-safe)."""

    def __init__(self, *, max_connections: int = 20, trust_env: bool = True) -> None:
        self._client = httpx.Client(
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=10),
            trust_env=trust_env,
            follow_redirects=True,
        )

    def fetch_json(self, request: HttpRequest) -> Any:
        try:
            response = self._client.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                json=request.body if request.method == "POST" else None,
                timeout=request.timeout_seconds,
            )
        except httpx.TimeoutException:
            raise PollError(
                Reason.TIMEOUT, f"{request.shown}: no answer in {request.timeout_seconds:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise PollError(Reason.UNREACHABLE, f"{request.shown}: {type(exc).__name__}") from None
        return decode_json(response.status_code, response.content, request)

    def close(self) -> None:
        self._client.close()


Answer = Any
"""A JSON value, a ``(status, body bytes)`` pair, a PollError, or a callable giving one."""


class MemoryFetcher:
    """Answers from a script keyed by URL, for tests; records every request."""

    def __init__(self, answers: Mapping[str, Answer] | None = None) -> None:
        self.answers: dict[str, Answer] = dict(answers or {})
        self.requests: list[HttpRequest] = []
        self._lock = threading.Lock()

    def fetch_json(self, request: HttpRequest) -> Any:
        with self._lock:
            self.requests.append(request)
            answer = self.answers.get(request.url)
        if answer is None:
            raise PollError(Reason.UNREACHABLE, f"{request.shown}: nothing scripted")
        if callable(answer):
            answer = _call(answer, request)
        if isinstance(answer, PollError):
            raise answer
        if isinstance(answer, tuple):
            status, body = answer
            return decode_json(status, body, request)
        return answer

    def close(self) -> None:
        return None


def _call(answer: Callable[[HttpRequest], Any], request: HttpRequest) -> Any:
    return answer(request)
