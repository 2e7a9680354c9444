"""A scriptable stand-in for stats-service, for the client's fault-injection tests.

It speaks the wire contract (``POST /log/events``, ``POST /log/event``,
``GET /log/event/<id>``, ``GET /ping``) on 127.0.0.1 and can be told to answer
the next batches with any status, a ``Retry-After``, slowly, never, or by
dropping the connection. It gunzips bodies, counts every event id it stores
and every TCP connection it accepts. Run it alone with
``python tests/integration/fake_stats_server.py [port]``.
"""

from __future__ import annotations

import gzip
import json
import ssl
import sys
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Behaviour", "FakeStatsServer", "RecordedRequest"]


@dataclass(frozen=True)
class Behaviour:
    """How to answer one ``POST /log/events``."""

    status: int = 200
    retry_after: str | None = None
    delay_seconds: float = 0.0
    """Answer only after this long (a slow server)."""
    hang: bool = False
    """Never answer; the connection is held until the server stops."""
    drop_connection: bool = False
    """Close the connection without answering."""
    close_after: bool = False
    """Answer normally, then close the connection without saying so (a stale keep-alive)."""


@dataclass(frozen=True)
class RecordedRequest:
    """What the server saw of one request."""

    method: str
    path: str
    headers: dict[str, str]
    raw_body: bytes
    items: list[Any] | None = None
    proxied: bool = False


@dataclass
class _State:
    lock: threading.Condition = field(default_factory=threading.Condition)
    script: deque[Behaviour] = field(default_factory=deque)
    requests: list[RecordedRequest] = field(default_factory=list)
    received_ids: list[str] = field(default_factory=list)
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    connections: int = 0
    max_batch_items: int | None = None
    reject_uid: str = "reject-me"
    stopping: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are written separately: without this, Nagle's algorithm and
    # the client's delayed ACK stall every response for tens of milliseconds.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.state.lock:
            self.server.state.connections += 1

    def log_message(self, format: str, *args: Any) -> None:
        del format, args

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: str, headers: dict[str, str] | None = None) -> None:
        error = {"error": {"code": code, "message": f"fake {status}", "details": None}}
        self._send_json(status, error, headers)

    def _route(self) -> tuple[str, bool]:
        # A proxied plain-HTTP request names the absolute URL.
        if self.path.startswith(("http://", "https://")):
            return urllib.parse.urlsplit(self.path).path, True
        return self.path, False

    def do_GET(self) -> None:
        path, proxied = self._route()
        state = self.server.state
        with state.lock:
            state.requests.append(
                RecordedRequest("GET", path, dict(self.headers.items()), b"", proxied=proxied)
            )
        path = path.rstrip("/")
        if path == "/ping":
            self._send_json(200, {"status": "ok", "name": "stats-service", "version": "fake"})
        elif path.startswith("/log/event/"):
            event_id = urllib.parse.unquote(path.removeprefix("/log/event/"))
            with state.lock:
                found = state.stored.get(event_id)
            if found is None:
                self._error(404, "not_found")
            else:
                self._send_json(200, found)
        else:
            self._error(404, "not_found")

    def do_POST(self) -> None:
        path, proxied = self._route()
        state = self.server.state
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = raw
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            body = gzip.decompress(raw)
        document = json.loads(body) if body else None
        items = document if isinstance(document, list) else [document]
        with state.lock:
            state.requests.append(
                RecordedRequest(
                    "POST", path, dict(self.headers.items()), raw, items, proxied=proxied
                )
            )
            behaviour = state.script.popleft() if state.script else Behaviour()
        if behaviour.hang:
            state.stopping.wait()
            self.close_connection = True
            return
        if behaviour.drop_connection:
            self.close_connection = True
            return
        if behaviour.delay_seconds:
            state.stopping.wait(behaviour.delay_seconds)
        extra = {"Retry-After": behaviour.retry_after} if behaviour.retry_after else None
        if behaviour.status != 200:
            self._error(behaviour.status, "scripted", extra)
            return
        if state.max_batch_items is not None and len(items) > state.max_batch_items:
            self._error(413, "payload_too_large")
            return
        ids: list[str] = []
        rejected: list[dict[str, Any]] = []
        with state.lock:
            for index, item in enumerate(items):
                if item.get("uid") == state.reject_uid:
                    rejected.append({"index": index, "error": "rejected by the fake server"})
                    continue
                event_id = item["event_id"]
                ids.append(event_id)
                state.received_ids.append(event_id)
                state.stored.setdefault(event_id, item)
            state.lock.notify_all()
        if path.rstrip("/") == "/log/event":
            self._send_json(200, ids[0] if ids else None)
        else:
            self._send_json(200, {"accepted": len(ids), "ids": ids, "rejected": rejected})
        if behaviour.close_after:
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    state: _State


class FakeStatsServer:
    """Start with ``with FakeStatsServer() as server:``; ``server.url`` is its base URL."""

    def __init__(
        self,
        port: int = 0,
        *,
        max_batch_items: int | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.state = _State(max_batch_items=max_batch_items)
        self._scheme = "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def _state(self) -> _State:
        return self._server.state

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host!s}:{port}"

    def start(self) -> FakeStatsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._state.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> FakeStatsServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def script(self, *behaviours: Behaviour) -> None:
        """Answer the next ``POST`` requests with these behaviours, then with 200."""
        with self._state.lock:
            self._state.script.extend(behaviours)

    @property
    def received_ids(self) -> list[str]:
        """Ids of every stored event, in arrival order, duplicates included."""
        with self._state.lock:
            return list(self._state.received_ids)

    @property
    def stored(self) -> dict[str, dict[str, Any]]:
        """Stored events by id (each id once)."""
        with self._state.lock:
            return dict(self._state.stored)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def connections(self) -> int:
        """TCP connections accepted so far."""
        with self._state.lock:
            return self._state.connections

    def wait_for_ids(self, count: int, timeout: float) -> bool:
        """Wait until at least ``count`` ids were stored; False after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._state.lock:
            while len(self._state.received_ids) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._state.lock.wait(remaining)
            return True


if __name__ == "__main__":
    with FakeStatsServer(int(sys.argv[1]) if len(sys.argv) > 1 else 0) as running:
        print(running.url, flush=True)
        threading.Event().wait()
