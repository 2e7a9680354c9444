"""One check of one monitor over HTTP(S) with httpx; never raises for network trouble.

The response body is read up to ``max_body_bytes`` and no further: a larger
body ends the check with reason ``body_too_large``. Network failures become a
:class:`~stats_service.monitors.model.Reason` (DNS, connect, TLS, timeout,
redirect loop, protocol) with a short message, never a traceback. The whole
check, body included, is bounded by the monitor's ``timeout_seconds``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
import zlib
from collections.abc import Callable
from typing import Any

import httpx

from stats_service.monitors.conditions import Observed, evaluate
from stats_service.monitors.model import CheckResult, Monitor, Reason, new_result_id

__all__ = ["Checker", "classify"]

_MAX_REDIRECTS = 10
_CONNECTIONS_PER_CLIENT = 10


def classify(exc: BaseException) -> tuple[Reason, str]:
    """The reason and a one-line message for an exception raised by a request."""
    if isinstance(exc, httpx.TooManyRedirects):
        return Reason.REDIRECT_LOOP, f"more than {_MAX_REDIRECTS} redirects"
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return Reason.TIMEOUT, "no complete response within the timeout"
    chain = _chain(exc)
    if any(isinstance(e, socket.gaierror) for e in chain) or _mentions(
        chain, ("name or service not known", "nodename nor servname", "name resolution")
    ):
        return Reason.DNS, "the host name did not resolve"
    if any(isinstance(e, ssl.SSLError | ssl.CertificateError) for e in chain) or _mentions(
        chain, ("certificate", "ssl", "tls")
    ):
        detail = next((str(e) for e in chain if isinstance(e, ssl.SSLError)), "")
        return Reason.TLS, f"TLS failed: {_short(detail) or 'handshake or certificate error'}"
    if isinstance(exc, httpx.ConnectError | ConnectionError | OSError):
        return Reason.CONNECT, "the connection was refused or could not be made"
    return Reason.PROTOCOL, f"invalid HTTP exchange ({type(exc).__name__})"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 16:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _mentions(chain: list[BaseException], needles: tuple[str, ...]) -> bool:
    text = " ".join(str(e) for e in chain).lower()
    return any(needle in text for needle in needles)


def _short(text: str) -> str:
    return text.replace("\n", " ")[:160]


class Checker:
    """Runs checks on pooled httpx clients (TLS verified, and not).

    The connections are split over several small clients, each monitor always
    on the same one: httpcore's pool scans every connection for every queued
    request, so one pool of 100 costs far more per request than ten of 10.

    ``trust`` is the SSL context used when a monitor verifies TLS (the system
    trust store by default; tests pass one that trusts their own CA).
    ``transport_factory`` lets tests swap the network out.
    """

    def __init__(
        self,
        *,
        max_body_bytes: int = 1_048_576,
        max_connections: int = 100,
        trust: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
        user_agent: str = "stats-service-monitor",
    ) -> None:
        self._max_body = max_body_bytes
        self._clock = clock
        self._timer = timer
        shards = max(1, max_connections // _CONNECTIONS_PER_CLIENT)
        per_client = max(1, max_connections // shards)
        limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
        headers = {"User-Agent": user_agent}
        verify: ssl.SSLContext | bool = trust if trust is not None else True
        if verify is True:
            verify = httpx.create_ssl_context()  # one context (certifi) shared by every client
        self._verified = [
            httpx.AsyncClient(
                verify=verify, limits=limits, headers=headers, max_redirects=_MAX_REDIRECTS
            )
            for _ in range(shards)
        ]
        # For monitors with verify_tls false, which their owners chose.
        self._unverified = [
            httpx.AsyncClient(
                verify=False,  # noqa: S501
                limits=limits,
                headers=headers,
                max_redirects=_MAX_REDIRECTS,
            )
            for _ in range(shards)
        ]

    async def aclose(self) -> None:
        """Close every client's connections."""
        for client in (*self._verified, *self._unverified):
            await client.aclose()

    def _client(self, monitor: Monitor) -> httpx.AsyncClient:
        clients = self._verified if monitor.spec.verify_tls else self._unverified
        return clients[zlib.crc32(monitor.id.encode()) % len(clients)]

    async def check(self, monitor: Monitor) -> CheckResult:
        """Check ``monitor`` once; the result says what happened, whatever happened."""
        spec = monitor.spec
        started_at = self._clock()
        client = self._client(monitor)
        start = self._timer()
        common: dict[str, Any] = {
            "id": new_result_id(),
            "monitor_id": monitor.id,
            "time": started_at,
        }
        try:
            async with asyncio.timeout(spec.timeout_seconds):
                request = client.build_request(
                    spec.method,
                    spec.url,
                    headers=spec.headers,
                    content=None if spec.body is None else spec.body.encode(),
                    timeout=spec.timeout_seconds,
                )
                response = await client.send(
                    request, stream=True, follow_redirects=spec.follow_redirects
                )
                try:
                    cert_expires_at = _certificate_expiry(response)
                    body, too_large = await self._read(response)
                finally:
                    await response.aclose()
        except (httpx.HTTPError, OSError, TimeoutError, ssl.SSLError) as exc:
            reason, message = classify(exc)
            return CheckResult(**common, ok=False, reason=reason, message=message)
        latency_us = max(0, round((self._timer() - start) * 1_000_000))
        if too_large:
            return CheckResult(
                **common,
                ok=False,
                status_code=response.status_code,
                latency_us=latency_us,
                reason=Reason.BODY_TOO_LARGE,
                message=f"the body is larger than {self._max_body} bytes",
                cert_expires_at=cert_expires_at,
            )
        days_left = None if cert_expires_at is None else (cert_expires_at - started_at) / 86_400
        failures = evaluate(
            spec.conditions,
            Observed(response.status_code, latency_us / 1000, body, days_left),
        )
        return CheckResult(
            **common,
            ok=not failures,
            status_code=response.status_code,
            latency_us=latency_us,
            failures=failures,
            cert_expires_at=cert_expires_at,
        )

    async def _read(self, response: httpx.Response) -> tuple[bytes, bool]:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_body:
            return b"", True
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._max_body:
                return b"", True
            chunks.append(chunk)
        return b"".join(chunks), False


def _certificate_expiry(response: httpx.Response) -> float | None:
    """The server certificate's notAfter as Unix time, when TLS was verified."""
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    ssl_object = stream.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert()
    not_after = cert.get("notAfter") if cert else None
    if not isinstance(not_after, str):
        return None
    return float(ssl.cert_time_to_seconds(not_after))
