"""Store events in InfluxDB 2.x through its native API, with the official ``influxdb-client``.

The client library's asynchronous API needs ``aiohttp``, which this service
does not depend on, so the synchronous client runs in worker threads
(``asyncio.to_thread``); its connection pool is shared and thread-safe.

Writes go to ``/api/v2/write?org=..&bucket=..&precision=ns`` as
gzip-compressed line protocol with ``Authorization: Token ...``. Reads are Flux
through ``/api/v2/query``: every user-supplied value is a query parameter,
which the client library sends as typed literals in the query's ``extern``
block, never as text spliced into the Flux source. Annotated CSV carries each
column's type, so field types come back as written; the ``#group`` annotation
tells tags (in the group key) from fields. Timestamps are read as integer
nanoseconds (``int(v: r._time)``) because the client parses ``_time`` into a
``datetime``, which holds microseconds only.

Limits of 2.x that show here: a null and an empty string look the same in
annotated CSV, so an empty string field comes back absent; a field's type is
fixed per shard, and a conflicting point is refused with 422.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

import urllib3
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from stats_service.events.model import Event, FieldValue
from stats_service.events.query import EventQuery
from stats_service.storage.base import StoreHealth
from stats_service.storage.influx.backend import InfluxBackend
from stats_service.storage.influx.config import InfluxDB2Config
from stats_service.storage.influx.errors import (
    InfluxQueryFailed,
    InfluxUnavailable,
    InfluxWriteRejected,
)
from stats_service.storage.influx.lineprotocol import EVENT_ID_FIELD, encode_lines
from stats_service.storage.influx.points import EVENT_TAG, UID_FIELD, unique_events, unique_lines

__all__ = ["InfluxDB2Store"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_TIME_NS = "_time_ns"
_MIN_TIME_NS = -(2**63) + 2
_MAX_TIME_NS_EXCLUSIVE = 2**63 - 1
_NOT_DATA = frozenset({"result", "table", "_start", "_stop", "_time", "_measurement", _TIME_NS})
_DROPPED = re.compile(r"dropped=(\d+)")
_RETRYABLE_STATUS = frozenset({401, 403, 404, 408, 429})

_FIND_BY_ID = """\
from(bucket: bucket)
  |> range(start: time(v: since), stop: time(v: until))
  |> filter(fn: (r) => r._field == "event_id")
  |> filter(fn: (r) => r._value == event_id)
  |> limit(n: 1)
  |> map(fn: (r) => ({r with _time_ns: int(v: r._time)}))
"""

_PIVOT = """\
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> filter(fn: (r) => exists r.event_id)
"""

_TAIL = """\
  |> map(fn: (r) => ({r with _time_ns: int(v: r._time)}))
"""


class InfluxDB2Store(InfluxBackend[InfluxDB2Config]):
    """``EventStore`` on the InfluxDB 2.x API; errors are those of :mod:`.errors`."""

    backend_name = "influxdb2"

    def __init__(self, config: InfluxDB2Config) -> None:
        super().__init__(config)
        self._client: InfluxDBClient | None = None

    async def open(self) -> None:
        """Create the client (no request is made: a server that is down is fine)."""
        if self._client is None:
            config = self._config
            self._client = InfluxDBClient(
                url=config.url,
                token=config.token,
                org=config.org,
                timeout=max(1, round(config.timeout_seconds * 1000)),
                enable_gzip=True,
                verify_ssl=config.verify_tls,
                retries=False,
            )

    async def close(self) -> None:
        """Close the client's connection pool."""
        client, self._client = self._client, None
        if client is not None:
            client.close()  # type: ignore[no-untyped-call]  # the library leaves it unannotated

    async def health(self) -> StoreHealth:
        """Ok when the store is open and ``GET /ping`` answers."""
        client = self._client
        if client is None:
            return StoreHealth(self.backend_name, ok=False, detail="not open")
        ok = bool(await asyncio.to_thread(client.ping))
        detail = "InfluxDB 2 answers /ping" if ok else "InfluxDB 2 does not answer /ping"
        return StoreHealth(self.backend_name, ok=ok, detail=detail)

    async def write(self, events: Sequence[Event]) -> None:
        """Write ``events`` in one request; errors as ``InfluxDBStore.write``.

        2.x names neither the dropped points nor (beyond a count) how many, so
        ``rejected_event_ids`` is known only for a one-event batch or when
        nothing was stored (413). Events that cannot be encoded raise
        ``InvalidEvent`` before anything is sent.
        """
        unique = unique_events(events)
        lines = encode_lines(unique)
        if lines:
            body = "\n".join(lines).encode("utf-8")
            try:
                await self._call(self._write_sync, body)
            except ApiException as exc:
                raise self._write_error(exc, [e.event_id for e in unique]) from None

    async def write_lines(self, lines: Sequence[tuple[str, bytes]]) -> None:
        """Write ``(event_id, line)`` pairs as they are, in one request; errors as
        :meth:`write` (the first line of an id is sent)."""
        unique = unique_lines(lines)
        if unique:
            ids = list(unique)
            body = b"\n".join(unique.values())
            try:
                await self._call(self._write_sync, body)
            except ApiException as exc:
                raise self._write_error(exc, ids) from None

    async def get(self, event_id: str) -> Event | None:
        """The event with this id, in any measurement (two Flux queries)."""
        found = await self._flux(
            _FIND_BY_ID,
            {"since": _MIN_TIME_NS, "until": _MAX_TIME_NS_EXCLUSIVE, "event_id": event_id},
        )
        hits = [record for _table, record in found]
        if not hits:
            return None
        first = min(hits, key=lambda r: (int(r[_TIME_NS]), str(r["_measurement"])))
        time_ns = int(first[_TIME_NS])
        source = (
            "from(bucket: bucket)\n"
            "  |> range(start: time(v: since), stop: time(v: until))\n"
            "  |> filter(fn: (r) => r._measurement == measurement)\n"
            + _PIVOT
            + "  |> filter(fn: (r) => r.event_id == event_id)\n"
            + _TAIL
        )
        events = await self._events(
            source,
            {
                "since": time_ns,
                "until": time_ns + 1,
                "measurement": str(first["_measurement"]),
                "event_id": event_id,
            },
        )
        return events[0] if events else None

    async def _candidates(self, query: EventQuery) -> list[Event]:
        """The candidates of a page (see :class:`~.backend.InfluxBackend`).

        Flux applies the keyset (``after``) exactly and sorts and limits each
        series to ``limit + 1`` rows; merging those in order gives the page and
        tells whether another follows.
        """
        params: dict[str, Any] = {
            "since": query.since_ns,
            "until": query.until_ns,
            "rows": query.limit + 1,
        }
        parts = ["from(bucket: bucket)\n  |> range(start: time(v: since), stop: time(v: until))\n"]
        if query.measurement is not None:
            parts.append("  |> filter(fn: (r) => r._measurement == measurement)\n")
            params["measurement"] = query.measurement
        if query.event is not None:
            parts.append(f"  |> filter(fn: (r) => r.{EVENT_TAG} == event)\n")
            params["event"] = query.event
        parts.append(_PIVOT)
        if query.uid is not None:
            parts.append(f"  |> filter(fn: (r) => r.{UID_FIELD} == uid)\n")
            params["uid"] = query.uid
        if query.after is not None:
            parts.append(
                "  |> filter(fn: (r) => r._time > time(v: after_time)"
                " or (r._time == time(v: after_time) and r.event_id > after_id))\n"
            )
            params["after_time"], params["after_id"] = query.after
        parts.append('  |> sort(columns: ["_time", "event_id"])\n  |> limit(n: rows)\n')
        parts.append(_TAIL)
        return await self._events("".join(parts), params)

    # -- internals -------------------------------------------------------

    def _open_client(self) -> InfluxDBClient:
        if self._client is None:
            raise InfluxUnavailable("the InfluxDB 2 store is not open")
        return self._client

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        """Run a blocking client call in a worker thread; network errors are retryable."""
        try:
            return await asyncio.to_thread(function, *args)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise InfluxUnavailable(
                f"InfluxDB 2 at {self._config.url} is unreachable: {type(exc).__name__}"
            ) from None

    def _write_sync(self, body: bytes) -> None:
        client = self._open_client()
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket=self._config.bucket,
            org=self._config.org,
            record=body,
            # The constant is a plain str in the library's annotations.
            write_precision=cast(WritePrecision, WritePrecision.NS),
        )

    def _query_sync(self, source: str, params: Mapping[str, Any]) -> Any:
        client = self._open_client()
        return client.query_api().query(source, org=self._config.org, params=dict(params))

    @staticmethod
    def _message(exc: ApiException) -> str:
        message = getattr(exc, "message", None)
        if isinstance(message, bytes):
            message = message.decode("utf-8", errors="replace")
        return str(message or exc.reason or "no reason given")

    def _unavailable(self, exc: ApiException, what: str) -> InfluxUnavailable:
        status = int(exc.status or 0)
        retry_after = str(getattr(exc, "retry_after", None) or "")
        if status in (401, 403):
            message = f"InfluxDB 2 refused the token for {what} ({status})"
        else:
            message = f"InfluxDB 2 could not {what} ({status}): {self._message(exc)}"
        return InfluxUnavailable(
            message,
            influx_status=status or None,
            retry_after_seconds=max(1, int(retry_after)) if retry_after.isdigit() else 1,
        )

    def _write_error(self, exc: ApiException, sent: list[str]) -> Exception:
        status = int(exc.status or 0)
        if status >= 500 or status in _RETRYABLE_STATUS:
            return self._unavailable(exc, "write")
        reason = self._message(exc)
        match = _DROPPED.search(reason)
        rejected: frozenset[str] | None = None
        if status == 413 or len(sent) == 1:
            rejected = frozenset(sent)
        return InfluxWriteRejected(
            reason,
            influx_status=status,
            dropped=int(match.group(1)) if match else None,
            rejected_event_ids=rejected,
        )

    async def _flux(self, source: str, params: Mapping[str, Any]) -> list[tuple[Any, Any]]:
        """Run Flux with the bucket bound as ``bucket``; (table, record) pairs."""
        try:
            tables = await self._call(
                self._query_sync, source, {"bucket": self._config.bucket, **params}
            )
        except ApiException as exc:
            status = int(exc.status or 0)
            if status >= 500 or status in _RETRYABLE_STATUS:
                raise self._unavailable(exc, "run a query") from None
            raise InfluxQueryFailed(
                f"InfluxDB 2 refused a query ({status}): {self._message(exc)}"
            ) from None
        return [(table, record) for table in tables for record in table.records]

    async def _events(self, source: str, params: Mapping[str, Any]) -> list[Event]:
        events: list[Event] = []
        for table, record in await self._flux(source, params):
            event = _record_to_event(table, record)
            if event is not None:
                events.append(event)
        return events


def _record_to_event(table: Any, record: Any) -> Event | None:
    """Map one pivoted row back to an ``Event``; tags are the group key's columns."""
    values: dict[str, Any] = record.values
    group = {column.label for column in table.columns if column.group}
    event_id = values.get(EVENT_ID_FIELD)
    if not isinstance(event_id, str):
        return None
    tags: dict[str, str] = {}
    fields: dict[str, FieldValue] = {}
    for label, value in values.items():
        if value is None or label in _NOT_DATA or label == EVENT_ID_FIELD:
            continue
        if label in group:
            if value != "":
                tags[label] = str(value)
        elif isinstance(value, str | int | float | bool):
            fields[label] = value
    return Event(
        event_id=event_id,
        measurement=str(values["_measurement"]),
        time_ns=int(values[_TIME_NS]),
        tags=tags,
        fields=fields,
    )
