"""A scripted third-party API for the collector tests: a real HTTP server on loopback.

Each path answers what the test last set: JSON, a status with a body, raw
bytes, or nothing for a while (a hang, to drive timeouts). Every request is
counted and its headers kept, so tests can prove a scrape never reached the
upstream and that headers were sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeApi"]


@dataclass(frozen=True)
class _Answer:
    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"
    delay_seconds: float = 0.0


class FakeApi:
    """``with FakeApi() as api: api.json("/incidents", {...}); api.url("/incidents")``."""

    def __init__(self) -> None:
        self._answers: dict[str, _Answer] = {}
        self._lock = threading.Lock()
        self.hits: Counter[str] = Counter()
        self.headers: list[dict[str, str]] = []
        self._stop = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api._serve(self)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                api._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def json(self, path: str, value: Any) -> None:
        """Answer ``value`` as JSON from now on."""
        self._set(path, _Answer(body=json.dumps(value).encode()))

    def status(self, path: str, status: int, body: bytes = b'{"error": "scripted"}') -> None:
        """Answer with ``status`` from now on."""
        self._set(path, _Answer(status=status, body=body))

    def raw(self, path: str, body: bytes, content_type: str = "text/html") -> None:
        """Answer 200 with ``body`` (e.g. an HTML error page)."""
        self._set(path, _Answer(body=body, content_type=content_type))

    def hang(self, path: str, seconds: float) -> None:
        """Wait ``seconds`` before answering ``{}`` (longer than the client's timeout)."""
        self._set(path, _Answer(delay_seconds=seconds))

    def _set(self, path: str, answer: _Answer) -> None:
        with self._lock:
            self._answers[path] = answer

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self.hits[path] += 1
            self.headers.append(dict(handler.headers.items()))
            answer = self._answers.get(path, _Answer(status=404, body=b'{"error": "no route"}'))
        if answer.delay_seconds:
            self._stop.wait(answer.delay_seconds)
        try:
            handler.send_response(answer.status)
            handler.send_header("Content-Type", answer.content_type)
            handler.send_header("Content-Length", str(len(answer.body)))
            handler.end_headers()
            handler.wfile.write(answer.body)
        except OSError:
            return  # the client gave up (timeout): nothing to answer

    def __enter__(self) -> FakeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        time.sleep(0)
