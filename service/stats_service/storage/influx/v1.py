"""Store events in InfluxDB through the v1 HTTP API (``/write``, ``/query``, ``/ping``).

InfluxDB 1.x serves this API natively; 2.x and 3.x serve it as compatibility
endpoints. Writes are gzip-compressed line protocol at nanosecond precision.
Reads are InfluxQL with every user-supplied value passed as a bound
parameter (``$name`` placeholders plus a JSON ``params`` form field); only
identifiers we control (database, retention policy, measurement) are quoted
into the text, with ``escape_identifier``.

How a stored point maps back to an ``Event``: ``GROUP BY *`` puts the tags of
each series into its ``tags`` object (empty strings mean the point has no such
tag, as empty tags are never written) and leaves fields as columns (``null``
means the point has no such field). InfluxDB's JSON writes a whole float as
``1``, so the field types from ``SHOW FIELD KEYS`` (cached per measurement,
refreshed when a field is missing from the cache) restore ``float``.

What 1.x does with a bad batch (observed with influxd 1.6): it writes every
point it can and answers 400 ``partial write: ...``. Points with a field type
conflict are dropped and counted in ``dropped=N`` (only the first conflict is
named); unparsable lines are skipped, named one by one as ``unable to parse
'<line>': <reason>`` and *not* counted in ``dropped``. One exception: when
the batch creates a shard (a new database, or a time range with no shard yet)
and holds a type conflict within itself, the answer is a bare 400 ``field type
conflict`` and none of that shard's points are stored; sent again, the batch
gets the partial-write treatment, so ``write`` sends it once more by itself.
``InfluxWriteRejected`` carries the reason, the count and, where it can be
told, the ids of the rejected events; every other event of the batch has been
stored.
"""

from __future__ import annotations

import gzip
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx

from stats_service.events.model import Event
from stats_service.events.query import EventQuery
from stats_service.storage.base import StoreHealth
from stats_service.storage.influx.backend import InfluxBackend
from stats_service.storage.influx.config import InfluxDBConfig
from stats_service.storage.influx.errors import (
    InfluxError,
    InfluxWriteRejected,
)
from stats_service.storage.influx.influxql import (
    ALL_MEASUREMENTS,
    Selection,
    row_to_event,
    select_window,
)
from stats_service.storage.influx.lineprotocol import (
    EVENT_ID_FIELD,
    encode_lines,
    escape_identifier,
)
from stats_service.storage.influx.points import field_type_of, unique_events, unique_lines
from stats_service.storage.influx.stored import line_event
from stats_service.storage.influx.v1_api import RETRYABLE_STATUS, V1Api

__all__ = ["InfluxDBStore"]

logger = logging.getLogger(__name__)

_DROPPED = re.compile(r"dropped=(\d+)")
_UNPARSABLE = re.compile(r"unable to parse '(.*?)': ", re.DOTALL)
_TYPE_CONFLICT = "field type conflict"
_FLOAT_ONLY = frozenset({"float"})


def _sent_event(event_id: str, line: bytes) -> Event:
    """The event of a sent line; one that does not parse (InfluxDB will have named
    it as unparsable) stands for an event of that id without fields."""
    try:
        return line_event(line)
    except ValueError:
        return Event(event_id=event_id, measurement="", time_ns=0)


def _retryable(status: int) -> bool:
    """Whether a ``/write`` answer means "try the same batch again later"."""
    return status >= 500 or status in RETRYABLE_STATUS or status in (401, 403, 404)


class InfluxDBStore(InfluxBackend[InfluxDBConfig]):
    """``EventStore`` on the InfluxDB v1 HTTP API, over one keep-alive ``httpx.AsyncClient``.

    ``transport`` replaces the network (tests pass ``httpx.MockTransport``).
    """

    backend_name = "influxdb"

    def __init__(
        self,
        config: InfluxDBConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(config)
        self._api = V1Api(config, transport=transport)
        self._field_types: dict[str, dict[str, frozenset[str]]] = {}

    async def open(self) -> None:
        """Create the HTTP client and the database; a server that is down is tolerated."""
        self._api.open()
        try:
            await self._api.ensure_database()
        except InfluxError as exc:
            logger.warning(
                "InfluxDB database %s not created at start, will retry on write: %s",
                self._config.database,
                exc,
            )

    async def close(self) -> None:
        """Close the HTTP client (no write is buffered here)."""
        await self._api.close()

    async def health(self) -> StoreHealth:
        """Ok when the store is open and ``GET /ping`` answers 204."""
        if not self._api.opened:
            return StoreHealth(self.backend_name, ok=False, detail="not open")
        try:
            response = await self._api.ping()
        except httpx.HTTPError as exc:
            return StoreHealth(self.backend_name, ok=False, detail=self._api.unreachable(exc))
        if response.status_code != 204:
            return StoreHealth(
                self.backend_name, ok=False, detail=f"/ping answered {response.status_code}"
            )
        version = response.headers.get("X-Influxdb-Version", "unknown version")
        return StoreHealth(self.backend_name, ok=True, detail=f"InfluxDB {version}")

    async def write(self, events: Sequence[Event]) -> None:
        """Write ``events`` as one gzip-compressed ``/write`` request.

        Raises ``InvalidEvent`` (naming the event) before anything is sent
        when an event cannot be written exactly, ``InfluxUnavailable`` (retry
        the batch later) or ``InfluxWriteRejected`` (the rest of the batch is
        stored). Of events sharing an id, the first in the batch is sent.
        """
        sent = unique_events(events)
        lines = encode_lines(sent)
        if lines:
            await self._post_lines("\n".join(lines).encode("utf-8"), lambda: (lines, sent))

    async def write_lines(self, lines: Sequence[tuple[str, bytes]]) -> None:
        """Write ``(event_id, line)`` pairs as they are, in one gzip-compressed request.

        Errors as :meth:`write`; of lines sharing an id, the first is sent. The
        lines are decoded to events only to tell which ones a refused batch
        lost (:func:`~stats_service.storage.influx.stored.line_event`).
        """
        unique = unique_lines(lines)
        if unique:

            def decoded() -> tuple[list[str], list[Event]]:
                texts = [line.decode("utf-8", "replace") for line in unique.values()]
                return texts, [_sent_event(i, line) for i, line in unique.items()]

            await self._post_lines(b"\n".join(unique.values()), decoded)

    async def _post_lines(
        self, text: bytes, sent: Callable[[], tuple[list[str], list[Event]]]
    ) -> None:
        """POST one body; ``sent`` gives its lines and events when it was refused."""
        if text:
            body = gzip.compress(text, compresslevel=1, mtime=0)
            response = await self._api.post_write(body)
            if response.status_code == 404 and "database not found" in response.text:
                # Not created at open (InfluxDB was down then, or is new): create and retry once.
                await self._api.ensure_database()
                response = await self._api.post_write(body)
            if response.status_code == 400 and self._api.error_text(response) == _TYPE_CONFLICT:
                # A batch that creates a shard and has a type conflict inside is
                # refused whole (that shard's points, at least); sent again, with
                # the shard there, all but the conflicting points are stored.
                response = await self._api.post_write(body)
            if response.status_code != 204:
                if _retryable(response.status_code):
                    raise self._api.unavailable(response, "write")
                await self._raise_for_write(response, *sent())

    async def get(self, event_id: str) -> Event | None:
        """The event with this id, searched in every measurement of the database."""
        statement = (
            f"SELECT * FROM {self._api.qualified(ALL_MEASUREMENTS)}"  # noqa: S608 - quoted identifiers, bound id
            f" WHERE {escape_identifier(EVENT_ID_FIELD)} = $event_id GROUP BY * LIMIT 1"
        )
        events = await self._select(statement, {"event_id": event_id})
        return min(events, key=lambda e: (e.time_ns, e.measurement), default=None)

    async def _candidates(self, query: EventQuery) -> list[Event]:
        """The candidates of a page (see :class:`~.backend.InfluxBackend`).

        InfluxQL orders by time only, and ``LIMIT`` counts per series under
        ``GROUP BY *``. Within one series no two points share a timestamp, so:
        (1) when resuming after ``(t, id)``, fetch every point at exactly ``t``
        (at most one per series) and keep those with a larger id; (2) a probe
        without ``GROUP BY`` finds the time of the ``limit + 1``-th point after
        ``t``; (3) fetch every point up to and including that time. The merged,
        sorted candidates hold the whole page, and one more event exactly when
        another page follows.
        """
        selection = select_window(query, self._api.qualified)
        candidates: list[Event] = []
        low = query.since_ns
        if query.after is not None:
            after_time, after_id = query.after
            if after_time >= query.until_ns:
                return []
            if after_time >= low:
                ties = await self._select_window(selection, after_time, after_time + 1)
                candidates = [e for e in ties if e.event_id > after_id]
                low = after_time + 1
        wanted = query.limit + 1
        if len(candidates) < wanted and low < query.until_ns:
            needed = wanted - len(candidates)
            times = await self._probe_times(selection, low, query.until_ns, needed)
            high = query.until_ns if len(times) < needed else times[needed - 1] + 1
            candidates += await self._select_window(selection, low, high)
        return candidates

    async def count(self) -> int:
        """How many points the configured measurement holds (points with an ``event_id``)."""
        statement = (
            f"SELECT count({escape_identifier(EVENT_ID_FIELD)})"  # noqa: S608 - quoted identifiers
            f" FROM {self._api.qualified(escape_identifier(self._config.measurement))}"
        )
        for series in await self._api.query_series(statement, {}):
            values = series.get("values") or []
            if values:
                return int(values[0][1])
        return 0

    # -- internals -------------------------------------------------------

    async def _raise_for_write(
        self,
        response: httpx.Response,
        lines: list[str],
        sent: list[Event],
    ) -> None:
        status = response.status_code
        if _retryable(status):
            raise self._api.unavailable(response, "write")
        reason = self._api.error_text(response)
        match = _DROPPED.search(reason)
        dropped = int(match.group(1)) if match else None
        everything = {e.event_id for e in sent}
        rejected: set[str] | None = None
        if status == 413:
            rejected = everything  # nothing stored: the body is too large
        elif status == 400 and reason.startswith("partial write"):
            rejected = await self._partially_rejected(reason, dropped, lines, sent, set())
        elif status == 400 and len(_UNPARSABLE.findall(reason)) == len(lines):
            rejected = everything  # not one line parsed
        raise InfluxWriteRejected(
            reason,
            influx_status=status,
            dropped=dropped,
            rejected_event_ids=frozenset(rejected) if rejected is not None else None,
        )

    async def _partially_rejected(
        self,
        reason: str,
        dropped: int | None,
        lines: list[str],
        sent: list[Event],
        rejected: set[str],
    ) -> set[str] | None:
        """Ids of the events a ``partial write`` left out, or None when that cannot be told."""
        by_line = {line: event.event_id for line, event in zip(lines, sent, strict=True)}
        for text in _UNPARSABLE.findall(reason):
            event_id = by_line.get(text)
            if event_id is None:
                return None
            rejected.add(event_id)
        if not dropped:
            return rejected
        if _TYPE_CONFLICT not in reason:
            return None  # e.g. beyond the retention policy, or a series limit
        parsed = [e for e in sent if e.event_id not in rejected]
        conflicting = await self._type_conflicts(parsed)
        if conflicting is None or len(conflicting) != dropped:
            return None
        return rejected | conflicting

    async def _type_conflicts(self, events: Sequence[Event]) -> set[str] | None:
        """Ids of events that do not fit the stored field types (None: cannot tell).

        An event was dropped if one of its fields has another type than the
        stored one, or is not stored at all (it came only with dropped points).
        """
        conflicting: set[str] = set()
        for measurement in {e.measurement for e in events}:
            self._field_types.pop(measurement, None)
            try:
                types = await self._types_for(measurement, ())
            except InfluxError:
                return None
            for event in events:
                if event.measurement != measurement:
                    continue
                for key, value in event.fields.items():
                    stored = types.get(key)
                    if stored is not None and len(stored) > 1:
                        return None  # the key has several types (one per shard)
                    if stored is None or field_type_of(value) not in stored:
                        conflicting.add(event.event_id)
        return conflicting

    async def _probe_times(
        self, selection: Selection, since_ns: int, until_ns: int, limit: int
    ) -> list[int]:
        """Times of the first ``limit`` matching points, sorted.

        Without ``GROUP BY`` the series of one measurement merge into one, so
        ``LIMIT`` counts per measurement; the first ``limit`` of the union are
        the first ``limit`` overall.
        """
        statement = (
            f"SELECT {escape_identifier(EVENT_ID_FIELD)} FROM {selection.source}"  # noqa: S608 - quoted identifiers, bound values
            f" WHERE {selection.where} ORDER BY time ASC LIMIT {limit:d}"
        )
        series = await self._api.query_series(statement, selection.bind(since_ns, until_ns))
        return sorted(int(row[0]) for s in series for row in s.get("values") or [])

    async def _select_window(
        self, selection: Selection, since_ns: int, until_ns: int
    ) -> list[Event]:
        """Every matching point in ``[since_ns, until_ns)``."""
        statement = f"SELECT * FROM {selection.source} WHERE {selection.where} GROUP BY *"  # noqa: S608 - quoted identifiers, bound values
        return await self._select(statement, selection.bind(since_ns, until_ns))

    async def _select(self, statement: str, params: Mapping[str, Any]) -> list[Event]:
        """Run a ``SELECT * ... GROUP BY *`` and map every row back to an ``Event``."""
        events: list[Event] = []
        for series in await self._api.query_series(statement, params):
            measurement = str(series.get("name", ""))
            columns: list[str] = series.get("columns") or []
            tags = {k: v for k, v in (series.get("tags") or {}).items() if v}
            rows: list[list[Any]] = series.get("values") or []
            whole_number_columns = {
                columns[i]
                for row in rows
                for i in range(1, len(columns))
                if type(row[i]) is int and columns[i] != EVENT_ID_FIELD
            }
            float_columns: set[str] = set()
            if whole_number_columns:
                types = await self._types_for(measurement, whole_number_columns)
                float_columns = {c for c in whole_number_columns if types.get(c) == _FLOAT_ONLY}
            for row in rows:
                event = row_to_event(measurement, tags, columns, row, float_columns)
                if event is not None:
                    events.append(event)
        return events

    async def _types_for(
        self, measurement: str, needed: Iterable[str]
    ) -> dict[str, frozenset[str]]:
        """Field types of ``measurement``; fetched again when a needed key is unknown."""
        cached = self._field_types.get(measurement)
        if cached is not None and all(key in cached for key in needed):
            return cached
        statement = f"SHOW FIELD KEYS FROM {self._api.qualified(escape_identifier(measurement))}"
        found: dict[str, set[str]] = {}
        for series in await self._api.query_series(statement, {}):
            for key, kind in series.get("values") or []:
                found.setdefault(str(key), set()).add(str(kind))
        types = {key: frozenset(kinds) for key, kinds in found.items()}
        self._field_types[measurement] = types
        return types
