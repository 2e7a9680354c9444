"""A scripted website on loopback for monitor tests: real HTTP/1.1 (and HTTPS) over TCP.

Paths:

- ``/status/<code>``: that status, body ``status <code>``;
- ``/delay/<ms>``: waits, then 200;
- ``/json``: ``{"status": "up", "items": [1, 2]}``;
- ``/text/<words>``: 200 with that text;
- ``/redirect-loop``: 302 to itself, forever;
- ``/big``: 10 MB with Content-Length; ``/big-chunked``: 10 MB chunked, no length;
- ``/mix/<key>``: cycles 200, 200, 404, 500 per key, with a small varying delay.

A threaded ``http.server`` (one thread per connection, keep-alive); ``hits``
counts requests per path.
"""

from __future__ import annotations

import collections
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson

__all__ = ["FakeWebsite", "SelfSignedCertificate", "make_certificate"]

TEN_MB = 10 * 1024 * 1024
_MIX = (200, 200, 404, 500)


@dataclass(frozen=True)
class SelfSignedCertificate:
    """A certificate for 127.0.0.1 and localhost, and its key."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def trust(self) -> ssl.SSLContext:
        """A client context that trusts only this certificate."""
        return ssl.create_default_context(cafile=str(self.cert))


def make_certificate(directory: Path, *, days: int) -> SelfSignedCertificate:
    """A self-signed certificate valid for ``days`` days, made with the openssl CLI."""
    cert, key = directory / "site.pem", directory / "site.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
            "-keyout", str(key), "-out", str(cert), "-days", str(days),
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return SelfSignedCertificate(cert, key)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 2048

    def __init__(self, site: FakeWebsite, tls: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.site = site
        if tls is not None:
            self.socket = tls.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up or refuse the certificate are expected here."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer()

    def _answer(self, *, head: bool = False) -> None:
        site = self.server.site
        site.count(self.path)
        site.last_headers[self.path] = dict(self.headers)
        parts = self.path.split("?")[0].strip("/").split("/")
        kind, arg = parts[0], (parts[1] if len(parts) > 1 else "")
        status, body, headers = 200, b"ok", {"Content-Type": "text/plain"}
        if kind == "status":
            status, body = int(arg), f"status {arg}".encode()
        elif kind == "delay":
            time.sleep(int(arg) / 1000)
        elif kind == "json":
            body = orjson.dumps({"status": "up", "items": [1, 2]})
            headers["Content-Type"] = "application/json"
        elif kind == "text":
            body = arg.replace("-", " ").encode()
        elif kind == "redirect-loop":
            status, headers["Location"] = 302, "/redirect-loop"
        elif kind == "mix":
            n = site.next_mix(arg)
            status = _MIX[n % len(_MIX)]
            time.sleep((n % 5) / 1000)
        elif kind in ("big", "big-chunked"):
            self._big(chunked=kind == "big-chunked")
            return
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _big(self, *, chunked: bool) -> None:
        chunk = b"x" * 65536
        self.send_response(200)
        self.send_header("Connection", "close")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(TEN_MB))
        self.end_headers()
        self.close_connection = True
        try:
            for _ in range(TEN_MB // len(chunk)):
                self.wfile.write(
                    f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk
                )
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the checker stopped reading: that is the point


class FakeWebsite:
    """Start with ``start()``; ``url(path)``; ``stop()``."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._tls = tls
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.port = 0
        self.hits: collections.Counter[str] = collections.Counter()
        self.last_headers: dict[str, dict[str, str]] = {}
        self._mix: collections.Counter[str] = collections.Counter()

    def url(self, path: str) -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def count(self, path: str) -> None:
        with self._lock:
            self.hits[path] += 1

    def next_mix(self, key: str) -> int:
        with self._lock:
            n = self._mix[key]
            self._mix[key] += 1
            return n

    def start(self) -> FakeWebsite:
        self._server = _Server(self, self._tls)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)
