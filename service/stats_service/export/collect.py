"""Collectors: what goes into an export package.

A collector is bound to its parameters first (``events(store, "analytics")``)
and gathers later, when the package asks, for one half-open window
``[since, until)`` of aware datetimes. It returns either a dict (stored as one
JSON member) or a list of temporary files it wrote under the given output
directory (CSV chunks, each at most ``max_file_bytes``). Finding nothing is an
empty result, never an error; bad parameters raise
:class:`~stats_service.export.errors.CollectorError` when bound.

Collectors read events only through the
:class:`~stats_service.storage.base.EventStore` window query, so they work the
same over the embedded store and InfluxDB. The package removes their files
once packed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import orjson

from stats_service import __version__
from stats_service.errors import StatsServiceError
from stats_service.events.model import Event, format_time
from stats_service.export.errors import CollectorError
from stats_service.export.window import Window
from stats_service.settings import Settings
from stats_service.storage.base import EventQuery, EventStore

__all__ = [
    "EVENT_COLUMNS",
    "Collector",
    "CollectorOutput",
    "GatherTarget",
    "PageCallback",
    "config",
    "event_counts",
    "events",
]

CollectorOutput = dict[str, Any] | list[Path]
"""A JSON document, or the temporary files a collector wrote."""

EVENT_COLUMNS: tuple[str, ...] = (
    "time",
    "time_ns",
    "event_id",
    "measurement",
    "event",
    "identity",
    "uid",
    "tags",
    "fields",
)
"""The columns of the ``events`` CSV files; ``tags`` and ``fields`` hold the rest as JSON."""

_PAGE_EVENTS = 5000
_NS_PER_DAY = 86_400 * 1_000_000_000
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


@dataclass(frozen=True, slots=True)
class GatherTarget:
    """Where and how big a collector's files may be."""

    output_dir: Path
    max_file_bytes: int


class Collector:
    """A collector bound to its parameters; :meth:`gather` runs it for one window."""

    name: ClassVar[str]
    version: ClassVar[str]

    @property
    def stem(self) -> str:
        """The base of its member names; unique among the collectors of one package."""
        return self.name

    def params(self) -> dict[str, Any]:
        """The parameters it was bound to (recorded in the manifest; never secrets)."""
        return {}

    async def gather(
        self, since: dt.datetime, until: dt.datetime, target: GatherTarget
    ) -> CollectorOutput:
        """Gather ``[since, until)``; naive or reversed bounds raise ``WindowError``."""
        return await self._gather(Window(since, until), target)

    async def _gather(self, window: Window, target: GatherTarget) -> CollectorOutput:
        raise NotImplementedError


async def _window_events(
    store: EventStore, window: Window, measurement: str | None, event: str | None
) -> AsyncIterator[list[Event]]:
    after: tuple[int, str] | None = None
    while True:
        try:
            page = await store.query(
                EventQuery(
                    since_ns=window.since_ns,
                    until_ns=window.until_ns,
                    limit=_PAGE_EVENTS,
                    measurement=measurement,
                    event=event,
                    after=after,
                )
            )
        except StatsServiceError as exc:
            raise CollectorError(f"cannot read events of {window.label()}: {exc.message}") from exc
        if page.events:
            yield page.events
        if page.next_after is None:
            return
        after = page.next_after


def _check_name(what: str, value: str | None) -> None:
    if value is not None and (not value or not set(value) <= _NAME_CHARS):
        raise CollectorError(f"{what} {value!r} must be letters, digits, '_', '-' or '.'")


def _json_text(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _event_row(event: Event) -> list[object]:
    tags = dict(event.tags)
    fields = dict(event.fields)
    name = tags.pop("event", "")
    identity = tags.pop("identity", "")
    uid = fields.pop("uid", "")
    return [
        format_time(event.time_ns),
        event.time_ns,
        event.event_id,
        event.measurement,
        name,
        identity,
        uid if isinstance(uid, str) else _json_text(uid),
        _json_text(tags) if tags else "",
        _json_text(fields) if fields else "",
    ]


class _ChunkWriter:
    """CSV files of at most ``max_file_bytes`` each, a header in every one."""

    def __init__(self, target: GatherTarget, stem: str) -> None:
        self._target = target
        self._stem = stem
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\n")
        self._header = self._render(list(EVENT_COLUMNS))
        if len(self._header) >= target.max_file_bytes:
            raise CollectorError(f"max_file_bytes {target.max_file_bytes} cannot hold a CSV header")
        self.files: list[Path] = []
        self._fh: io.BufferedWriter | None = None
        self._size = 0

    def _render(self, row: list[object]) -> bytes:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._csv.writerow(row)
        return self._buffer.getvalue().encode()

    def write(self, events: list[Event]) -> None:
        limit = self._target.max_file_bytes
        room = limit - len(self._header)
        pending: list[bytes] = []
        for event in events:
            line = self._render(_event_row(event))
            if len(line) > room:
                raise CollectorError(
                    f"event {event.event_id} needs {len(line)} bytes of CSV, more than "
                    f"max_file_bytes {limit} allows with the header"
                )
            if self._fh is None or self._size + len(line) > limit:
                self._flush(pending)
                self._rotate()
            pending.append(line)
            self._size += len(line)
        self._flush(pending)

    def _flush(self, pending: list[bytes]) -> None:
        if pending:
            assert self._fh is not None
            self._fh.write(b"".join(pending))
            pending.clear()

    def _rotate(self) -> None:
        self.close()
        path = self._target.output_dir / f"{self._stem}.{len(self.files) + 1:04d}.csv"
        self._fh = path.open("xb")
        self._fh.write(self._header)
        self._size = len(self._header)
        self.files.append(path)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


PageCallback = Callable[[int, int], None]
"""Called after each page with the events written so far and the last one's ``time_ns``."""


class _Events(Collector):
    name = "events"
    version = "1"

    def __init__(
        self,
        store: EventStore,
        measurement: str | None,
        event: str | None,
        on_page: PageCallback | None,
    ) -> None:
        _check_name("measurement", measurement)
        _check_name("event", event)
        self._store = store
        self._measurement = measurement
        self._event = event
        self._on_page = on_page
        self.rows = 0

    @property
    def stem(self) -> str:
        parts = [self.name, self._measurement or "all"]
        if self._event is not None:
            parts.append(self._event)
        return ".".join(parts)

    def params(self) -> dict[str, Any]:
        return {"measurement": self._measurement, "event": self._event}

    async def _gather(self, window: Window, target: GatherTarget) -> CollectorOutput:
        writer = _ChunkWriter(target, self.stem)
        self.rows = 0
        try:
            async for page in _window_events(self._store, window, self._measurement, self._event):
                writer.write(page)
                self.rows += len(page)
                if self._on_page is not None:
                    self._on_page(self.rows, page[-1].time_ns)
        except BaseException:
            writer.close()
            for path in writer.files:
                path.unlink(missing_ok=True)
            raise
        writer.close()
        return writer.files


def events(
    store: EventStore,
    measurement: str | None = None,
    event: str | None = None,
    *,
    on_page: PageCallback | None = None,
) -> Collector:
    """Every event of the window as CSV chunks (:data:`EVENT_COLUMNS`), oldest first.

    ``measurement`` and ``event`` narrow it; ``None`` means all. ``on_page``
    reports progress (events so far, time of the latest).
    """
    return _Events(store, measurement, event, on_page)


class _EventCounts(Collector):
    name = "event_counts"
    version = "1"

    def __init__(self, store: EventStore, measurement: str | None) -> None:
        _check_name("measurement", measurement)
        self._store = store
        self._measurement = measurement

    @property
    def stem(self) -> str:
        return f"{self.name}.{self._measurement or 'all'}"

    def params(self) -> dict[str, Any]:
        return {"measurement": self._measurement}

    async def _gather(self, window: Window, target: GatherTarget) -> CollectorOutput:
        counts: Counter[tuple[int, str]] = Counter()
        async for page in _window_events(self._store, window, self._measurement, None):
            counts.update((e.time_ns // _NS_PER_DAY, e.tags.get("event", "")) for e in page)
        if not counts:
            return {}
        return {
            "counts": [
                {"day": format_time(day * _NS_PER_DAY)[:10], "event": name, "count": n}
                for (day, name), n in sorted(counts.items())
            ],
            "total": sum(counts.values()),
        }


def event_counts(store: EventStore, measurement: str | None = None) -> Collector:
    """Events per ``(day, event type)`` in UTC days, as one JSON document."""
    return _EventCounts(store, measurement)


class _Config(Collector):
    name = "config"
    version = "1"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def _gather(self, window: Window, target: GatherTarget) -> CollectorOutput:
        return {
            "service": "stats-service",
            "version": __version__,
            "settings": self._settings.redacted(),
        }


def config(settings: Settings) -> Collector:
    """The service version and its settings, secrets redacted (``config.json`` of every package)."""
    return _Config(settings)
