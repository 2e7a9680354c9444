"""A fault-injecting HTTP proxy for the probe's demo and tests (loopback only).

Between the probe and a service it forwards every request, except that a
share of requests is dropped (nothing forwarded; answered 502) and
a share is delayed. ``GET``/``PUT /_faults`` reads and changes the faults at
run time (``{"drop_share": 0.05, "delay_share": 0.5, "delay_seconds": 1}``);
``GET /_faults`` also reports what was forwarded and dropped. Responses are
relayed as they arrive, so a stream passes through live.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import urllib.parse
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FaultProxy", "Faults"]

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


@dataclass
class Faults:
    """What the proxy does to requests now, and what it did so far."""

    drop_share: float = 0.0
    delay_share: float = 0.0
    delay_seconds: float = 0.0
    forwarded: int = 0
    dropped: int = 0
    dropped_posts: int = 0
    forwarded_posts: int = 0


class FaultProxy:
    """Listens on 127.0.0.1:``port`` (0: any free port) and forwards to ``upstream``."""

    def __init__(self, upstream: str, *, port: int = 0, seed: int | None = None) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 80
        self.faults = Faults()
        self.lock = threading.Lock()
        self._random = random.Random(seed)  # noqa: S311 -- fault injection, not security
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def do_GET(self) -> None:
                proxy.handle(self)

            do_POST = do_PUT = do_DELETE = do_HEAD = do_GET  # noqa: N815 -- the names http.server calls

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        """Serve on a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def set_faults(self, **changes: float) -> None:
        """Change the faults (the fields of :class:`Faults`)."""
        with self.lock:
            for name, value in changes.items():
                setattr(self.faults, name, float(value))

    def snapshot(self) -> dict[str, float]:
        """The faults and the counts, as a dict."""
        with self.lock:
            return asdict(self.faults)

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        """One request: control, drop, delay, or forward."""
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        if request.path.startswith("/_faults"):
            self._control(request, body)
            return
        with self.lock:
            drop = self._random.random() < self.faults.drop_share
            delay = (
                self.faults.delay_seconds
                if self._random.random() < self.faults.delay_share
                else 0.0
            )
            is_post = request.command == "POST"
            if drop:
                self.faults.dropped += 1
                self.faults.dropped_posts += is_post
            else:
                self.faults.forwarded += 1
                self.faults.forwarded_posts += is_post
        if drop:
            # Answered 502, as a gateway that lost the request would: closing the socket
            # instead is undone by clients that resend on a fresh connection.
            request.send_response(502)
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        if delay:
            time.sleep(delay)
        self._forward(request, body)

    def _control(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        if request.command == "PUT":
            try:
                self.set_faults(**json.loads(body or b"{}"))
            except (ValueError, TypeError, AttributeError):
                request.send_error(400)
                return
        payload = json.dumps(self.snapshot()).encode()
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def _forward(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        upstream = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=120)
        try:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
            upstream.request(request.command, request.path, body=body or None, headers=headers)
            reply = upstream.getresponse()
            request.send_response(reply.status)
            for key, value in reply.getheaders():
                if key.lower() not in _HOP_HEADERS and key.lower() != "content-length":
                    request.send_header(key, value)
            request.send_header("Transfer-Encoding", "chunked")
            request.end_headers()
            while chunk := reply.read1(65536):
                request.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                request.wfile.flush()
            request.wfile.write(b"0\r\n\r\n")
        except OSError:
            request.close_connection = True
        finally:
            upstream.close()
