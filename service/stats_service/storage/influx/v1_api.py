"""The InfluxDB v1 HTTP API as the v1 backend uses it: one keep-alive client,
``/write`` bodies, InfluxQL statements, and InfluxDB's answers turned into our errors.

Every statement is POSTed to ``/query`` with its values as a JSON ``params``
form field (bound ``$name`` parameters); secrets (the password, in the
configuration or the URL) never appear in an error message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from stats_service.storage.influx.config import InfluxDBConfig
from stats_service.storage.influx.errors import InfluxQueryFailed, InfluxUnavailable
from stats_service.storage.influx.lineprotocol import escape_identifier

__all__ = ["RETRYABLE_STATUS", "V1Api"]

RETRYABLE_STATUS = frozenset({408, 429})
"""4xx answers worth retrying (with 5xx)."""


class V1Api:
    """One ``httpx.AsyncClient`` on an InfluxDB v1 HTTP API (``transport`` replaces the network)."""

    def __init__(
        self, config: InfluxDBConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._config = config
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._secrets = [s for s in (config.password, httpx.URL(config.url).password) if s]

    @property
    def opened(self) -> bool:
        """Whether the client exists."""
        return self._client is not None

    def open(self) -> None:
        """Create the client (no request is made)."""
        if self._client is None:
            config = self._config
            auth = (
                httpx.BasicAuth(config.username, config.password or "")
                if config.username is not None
                else None
            )
            self._client = httpx.AsyncClient(
                base_url=config.url,
                auth=auth,
                verify=config.verify_tls,
                timeout=config.timeout_seconds,
                transport=self._transport,
            )

    async def close(self) -> None:
        """Close the client."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def ping(self) -> httpx.Response:
        """``GET /ping``; raises ``httpx.HTTPError`` when the server cannot be reached."""
        return await self._client_or_raise().get("/ping")

    def _client_or_raise(self) -> httpx.AsyncClient:
        if self._client is None:
            raise InfluxUnavailable("the InfluxDB store is not open")
        return self._client

    def redact(self, text: str) -> str:
        """``text`` with the configured secrets blanked."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def unreachable(self, exc: httpx.HTTPError) -> str:
        """What to say when the server cannot be reached (no credentials in it)."""
        url = httpx.URL(self._config.url).copy_with(username=None, password=None)
        return self.redact(f"InfluxDB at {url} is unreachable: {type(exc).__name__}: {exc}")

    def qualified(self, source: str) -> str:
        """A quoted measurement or a ``/regex/``, qualified with the retention policy if set."""
        rp = self._config.retention_policy
        if rp is None:
            return source
        return f"{escape_identifier(self._config.database)}.{escape_identifier(rp)}.{source}"

    async def ensure_database(self) -> None:
        """Create the configured database (a no-op when it exists)."""
        statement = f"CREATE DATABASE {escape_identifier(self._config.database)}"
        await self.query_series(statement, {})

    async def post_write(self, body: bytes) -> httpx.Response:
        """``POST /write`` of a gzip-compressed line-protocol body; network errors are
        ``InfluxUnavailable``."""
        params = {"db": self._config.database, "precision": "ns"}
        if self._config.retention_policy is not None:
            params["rp"] = self._config.retention_policy
        try:
            return await self._client_or_raise().post(
                "/write",
                params=params,
                content=body,
                headers={
                    "Content-Encoding": "gzip",
                    "Content-Type": "text/plain; charset=utf-8",
                },
            )
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(self.unreachable(exc)) from None

    def error_text(self, response: httpx.Response) -> str:
        """InfluxDB's error message in ``response``, secrets blanked."""
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            payload = None
        if isinstance(payload, dict) and isinstance(payload.get("error"), str):
            text: str = payload["error"]
        else:
            text = response.headers.get("X-Influxdb-Error") or response.text[:500]
        return self.redact(text.strip())

    def unavailable(self, response: httpx.Response, what: str) -> InfluxUnavailable:
        """The retryable error for an answer that says "not now" (5xx, 429, credentials)."""
        retry_after = 1
        header = response.headers.get("Retry-After", "")
        if header.isdigit():
            retry_after = max(1, int(header))
        if response.status_code in (401, 403):
            message = f"InfluxDB refused the credentials for {what} ({response.status_code})"
        else:
            message = (
                f"InfluxDB could not {what} ({response.status_code}): {self.error_text(response)}"
            )
        return InfluxUnavailable(
            message, influx_status=response.status_code, retry_after_seconds=retry_after
        )

    async def query_series(self, statement: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run one InfluxQL statement (POST, so any statement may run); its ``series``."""
        form = {"q": statement, "db": self._config.database, "epoch": "ns"}
        if params:
            form["params"] = orjson.dumps(dict(params)).decode("utf-8")
        try:
            response = await self._client_or_raise().post("/query", data=form)
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(self.unreachable(exc)) from None
        status = response.status_code
        if status >= 500 or status in RETRYABLE_STATUS or status in (401, 403):
            raise self.unavailable(response, "run a query")
        if status != 200:
            raise InfluxQueryFailed(
                f"InfluxDB refused a query ({status}): {self.error_text(response)}"
            )
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise InfluxUnavailable("InfluxDB answered a query with something not JSON") from None
        results = payload.get("results") or [{}]
        result = results[0]
        error = result.get("error")
        if error is not None:
            if str(error).startswith("database not found"):
                return []  # nothing written yet
            raise InfluxQueryFailed(f"InfluxDB query failed: {self.redact(str(error))}")
        series: list[dict[str, Any]] = result.get("series") or []
        return series
