"""All network I/O of the client goes through one method: ``Transport.send(request)``.

:class:`HTTPTransport` speaks HTTP/1.1 with the standard library over a small
keep-alive pool (explicit connect and read timeouts, proxies, CA bundles);
:class:`MemoryTransport` answers like stats-service from memory, for tests.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import ipaddress
import json
import logging
import os
import socket
import ssl
import threading
import urllib.parse
import urllib.request
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from stats_client import _fork
from stats_client._wire import new_event_id
from stats_client.exceptions import ConfigurationError, TransportError

__all__ = ["HTTPTransport", "MemoryTransport", "Request", "Response", "Transport"]

_logger = logging.getLogger("stats_client")
_STALE_ERRORS = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
)


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request: ``path`` is relative to the service's base URL."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Response:
    """One HTTP response; ``headers`` keys are lower-case."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case), or None."""
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body parsed as JSON; ValueError when it is not."""
        return json.loads(self.body)


@runtime_checkable
class Transport(Protocol):
    """Sends one request and returns the response; raises TransportError without one.

    ``timeout_seconds`` caps both the connect and the read timeout of this call.
    Implementations must be safe to call from several threads at once.
    """

    def send(self, request: Request, *, timeout_seconds: float | None = None) -> Response: ...

    def close(self) -> None: ...


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HTTPTransport:
    """HTTP/1.1 over ``http.client`` with a LIFO pool of keep-alive connections."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout_seconds: float = 2.0,
        read_timeout_seconds: float = 10.0,
        max_idle_connections: int = 2,
        proxy_url: str | None = None,
        ca_bundle_path: str | None = None,
        verify_tls: bool = True,
        trust_env: bool = True,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigurationError("url must be an http or https URL with a host")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._netloc = parts.netloc.rpartition("@")[2]
        self._prefix = parts.path.rstrip("/")
        self._connect_timeout = connect_timeout_seconds
        self._read_timeout = read_timeout_seconds
        self._max_idle = max_idle_connections
        self._proxy = self._resolve_proxy(proxy_url, trust_env)
        self._proxy_headers: dict[str, str] = {}
        if self._proxy is not None and self._proxy.username:
            user = urllib.parse.unquote(self._proxy.username)
            password = urllib.parse.unquote(self._proxy.password or "")
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            self._proxy_headers["Proxy-Authorization"] = f"Basic {token}"
        self._ssl_context = (
            self._make_ssl_context(ca_bundle_path, verify_tls) if self._https else None
        )
        self._lock = threading.Lock()
        self._idle: list[http.client.HTTPConnection] = []
        self._closed = False
        self._pid = os.getpid()
        _fork.track(self)

    def __repr__(self) -> str:
        scheme = "https" if self._https else "http"
        return f"HTTPTransport({scheme}://{self._netloc}{self._prefix})"

    def _resolve_proxy(
        self, proxy_url: str | None, trust_env: bool
    ) -> urllib.parse.SplitResult | None:
        if proxy_url is not None:
            candidate: str | None = proxy_url
        elif not trust_env or _is_loopback(self._host):
            return None
        else:
            proxies = urllib.request.getproxies()
            candidate = proxies.get("https" if self._https else "http") or proxies.get("all")
            if not candidate or urllib.request.proxy_bypass(self._host):
                return None
        assert candidate is not None
        parts = urllib.parse.urlsplit(candidate if "://" in candidate else f"http://{candidate}")
        if parts.scheme != "http" or not parts.hostname:
            raise ConfigurationError("the proxy must be an http:// URL with a host")
        return parts

    @staticmethod
    def _make_ssl_context(ca_bundle_path: str | None, verify_tls: bool) -> ssl.SSLContext:
        # With no bundle given, OpenSSL's default paths apply (SSL_CERT_FILE / SSL_CERT_DIR).
        context = ssl.create_default_context(cafile=ca_bundle_path)
        if not verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _reset_after_fork(self) -> None:
        # The parent's sockets are the parent's: forget them (never close or reuse them here).
        self._lock = threading.Lock()
        self._idle = []
        self._pid = os.getpid()

    def _new_connection(self, timeout: float) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if self._proxy is None:
            if self._https:
                conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=timeout, context=self._ssl_context
                )
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        else:
            proxy_host = self._proxy.hostname or ""
            proxy_port = self._proxy.port or 80
            if self._https:
                conn = http.client.HTTPSConnection(
                    proxy_host, proxy_port, timeout=timeout, context=self._ssl_context
                )
                conn.set_tunnel(self._host, self._port, headers=self._proxy_headers)
            else:
                conn = http.client.HTTPConnection(proxy_host, proxy_port, timeout=timeout)
        conn.connect()
        if conn.sock is not None:
            # Requests are written in one piece; never let Nagle hold back a short tail.
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _take_idle(self) -> http.client.HTTPConnection | None:
        if self._pid != os.getpid():
            self._reset_after_fork()
        with self._lock:
            return self._idle.pop() if self._idle else None

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def _target(self, path: str) -> str:
        if self._proxy is not None and not self._https:
            return f"http://{self._netloc}{self._prefix}{path}"
        return f"{self._prefix}{path}"

    def send(self, request: Request, *, timeout_seconds: float | None = None) -> Response:
        """Send ``request``, reusing an idle connection when one is open."""
        connect_timeout = self._connect_timeout
        read_timeout = self._read_timeout
        if timeout_seconds is not None:
            connect_timeout = min(connect_timeout, max(timeout_seconds, 0.001))
            read_timeout = min(read_timeout, max(timeout_seconds, 0.001))
        headers = dict(request.headers)
        if self._proxy is not None and not self._https:
            headers.update(self._proxy_headers)
        target = self._target(request.path)
        while True:
            conn = self._take_idle()
            reused = conn is not None
            try:
                if conn is None:
                    conn = self._new_connection(connect_timeout)
                assert conn.sock is not None
                conn.sock.settimeout(read_timeout)
                conn.request(request.method, target, body=request.body or None, headers=headers)
                answer = conn.getresponse()
                body = answer.read()
            except (OSError, http.client.HTTPException) as exc:
                if conn is not None:
                    conn.close()
                if reused and isinstance(exc, _STALE_ERRORS):
                    # The server closed an idle keep-alive connection: try a fresh one.
                    continue
                raise TransportError(
                    f"{request.method} {self._prefix}{request.path} to {self._host}:{self._port}"
                    f" failed: {type(exc).__name__}: {exc}"
                ) from exc
            response = Response(
                status=answer.status,
                headers={name.lower(): value for name, value in answer.getheaders()},
                body=body,
            )
            if answer.will_close:
                conn.close()
            else:
                self._give_back(conn)
            return response

    def close(self) -> None:
        """Close the idle connections; later sends still work but are not pooled."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _error(status: int, code: str, message: str) -> Response:
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()
    return Response(status, {"content-type": "application/json"}, body)


def _ok(payload: Any) -> Response:
    return Response(200, {"content-type": "application/json"}, json.dumps(payload).encode())


class MemoryTransport:
    """Answers like stats-service and keeps what it is sent in memory.

    Use it in your own tests: ``Analytics.init({..., "transport": MemoryTransport()})``
    then ``flush()`` and read :attr:`events`. Events are kept once per
    ``event_id`` (as the service does); :attr:`requests` keeps every request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._events: dict[str, dict[str, Any]] = {}
        self._requests: list[Request] = []
        _fork.track(self)

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every stored event and point, oldest first, as decoded JSON objects."""
        with self._guard():
            return [dict(event) for event in self._events.values()]

    @property
    def requests(self) -> list[Request]:
        """Every request sent, in order."""
        with self._guard():
            return list(self._requests)

    def clear(self) -> None:
        """Forget every event and request."""
        with self._guard():
            self._events.clear()
            self._requests.clear()

    def close(self) -> None:
        """Nothing to release; present for the Transport protocol."""

    def _guard(self) -> threading.Lock:
        if self._pid != os.getpid():
            self._reset_after_fork()
        return self._lock

    def send(self, request: Request, *, timeout_seconds: float | None = None) -> Response:
        """Answer ``request`` the way stats-service would."""
        del timeout_seconds
        with self._guard():
            self._requests.append(request)
        path = request.path.rstrip("/")
        if request.method == "GET":
            return self._get(path)
        if request.method == "POST" and path in {"/log/events", "/log/event"}:
            return self._post(path, request)
        return _error(404, "not_found", f"no route {request.method} {request.path}")

    def _get(self, path: str) -> Response:
        if path == "/ping":
            return _ok({"status": "ok", "name": "stats-service", "version": "memory"})
        if not path.startswith("/log/event/"):
            return _error(404, "not_found", f"no route GET {path}")
        event_id = urllib.parse.unquote(path.removeprefix("/log/event/"))
        with self._guard():
            found = self._events.get(event_id)
        if found is None:
            return _error(404, "not_found", f"no event {event_id!r}")
        return _ok(found)

    def _post(self, path: str, request: Request) -> Response:
        try:
            document = self._decode(request)
        except ValueError as exc:
            return _error(400, "bad_request", str(exc))
        if path == "/log/event":
            if not isinstance(document, dict):
                return _error(422, "invalid", "expected one event object")
            return _ok(self._store(document))
        if not isinstance(document, list):
            return _error(422, "invalid", "expected a JSON array")
        ids: list[str] = []
        rejected: list[dict[str, Any]] = []
        for index, item in enumerate(document):
            if isinstance(item, dict):
                ids.append(self._store(item))
            else:
                rejected.append({"index": index, "error": "item is not an object"})
        return _ok({"accepted": len(ids), "ids": ids, "rejected": rejected})

    @staticmethod
    def _decode(request: Request) -> Any:
        body = request.body
        encoding = {k.lower(): v for k, v in request.headers.items()}.get("content-encoding", "")
        if encoding.lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error) as exc:
                raise ValueError(f"body is not valid gzip: {exc}") from None
        return json.loads(body)

    def _store(self, item: dict[str, Any]) -> str:
        event_id = str(item.get("event_id") or new_event_id())
        with self._guard():
            self._events.setdefault(event_id, {**item, "event_id": event_id})
        return event_id
