"""The ingest domain: turns decoded request bodies into stored events.

It knows nothing of HTTP: routes hand it decoded JSON and the sender's
identity; it validates each item with the event model and writes the good ones
to the store in one durable write.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stats_service.errors import InvalidEvent
from stats_service.events.batch import parse_batch
from stats_service.events.lineprotocol_events import event_from_point
from stats_service.events.lineprotocol_parse import ParsedPoint
from stats_service.events.model import Event, Limits, parse_event, parse_point
from stats_service.storage.base import EventStore
from stats_service.storage.influx.point_lines import point_line
from stats_service.storage.influx.stored import (
    EncodedEvent,
    LineWriter,
    encoded_event,
    line_event,
)

__all__ = ["BatchOutcome", "Ingestor"]


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What became of a batch: ids of the accepted items, reasons for the rest."""

    ids: list[str]
    rejected: list[tuple[int, str]] = field(default_factory=list)


class Ingestor:
    """Validates and stores events for one store and one set of model settings."""

    def __init__(
        self,
        store: EventStore,
        *,
        measurement: str,
        limits: Limits,
        tag_keys: frozenset[str] = frozenset(),
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._store = store
        self._measurement = measurement
        self._limits = limits
        self._tag_keys = tag_keys
        self._clock_ns = clock_ns

    async def log_payload(self, payload: Any, identity: str) -> str | list[str]:
        """The body of ``POST /log/event``: a list is points, anything else one event."""
        if isinstance(payload, list):
            return await self.log_points(payload, identity)
        return await self.log_event(payload, identity)

    async def log_event(self, obj: Any, identity: str) -> str:
        """Store one event object; its id."""
        event = parse_event(
            obj,
            identity=identity,
            measurement=self._measurement,
            now_ns=self._clock_ns(),
            limits=self._limits,
            tag_keys=self._tag_keys,
        )
        await self._store.write((event,))
        return event.event_id

    async def log_points(self, items: Sequence[Any], identity: str) -> list[str]:
        """Store a list of points, all or none; InvalidEvent names the bad index."""
        now = self._clock_ns()
        events: list[Event] = []
        for index, item in enumerate(items):
            try:
                events.append(
                    parse_point(item, identity=identity, now_ns=now + index, limits=self._limits)
                )
            except InvalidEvent as exc:
                raise InvalidEvent(f"point {index}: {exc.message}", key=exc.key) from None
        if events:
            await self._store.write(events)
        return [event.event_id for event in events]

    async def log_batch(
        self,
        items: Sequence[Any],
        identity: str,
        pre_rejected: Mapping[int, str] | None = None,
    ) -> BatchOutcome:
        """Store every valid item; invalid ones are reported by index, never sink the rest.

        Items without a time get the arrival time plus their index in nanoseconds,
        so points of one batch never share a timestamp by accident.
        """
        events, rejected = parse_batch(
            items,
            identity=identity,
            measurement=self._measurement,
            now_ns=self._clock_ns(),
            limits=self._limits,
            tag_keys=self._tag_keys,
            pre_rejected=pre_rejected,
        )
        if events:
            await self._store.write(events)
        return BatchOutcome(ids=[event.event_id for event in events], rejected=rejected)

    async def log_line_points(self, points: Sequence[ParsedPoint], identity: str) -> BatchOutcome:
        """Store every parsed line-protocol point the event model accepts.

        Refused points are reported by their line number (``rejected``), never
        sink the rest; points without a time get the arrival time plus their
        index in nanoseconds. On a store that takes encoded events (a
        ``LineWriter``: ``DurableStore``) plain points become their stored
        lines directly (:mod:`stats_service.storage.influx.point_lines`), the
        same bytes the event path would store.
        """
        now = self._clock_ns()
        rejected: list[tuple[int, str]] = []
        limits = self._limits
        store = self._store
        if isinstance(store, LineWriter):
            # Plain points go straight to their stored lines (point_line); the
            # rest through the model, then encoded; all in one write.
            encoded: list[EncodedEvent | Event] = []
            lines = True
            for index, point in enumerate(points):
                item: EncodedEvent | Event | None = point_line(
                    point, identity=identity, now_ns=now + index, limits=limits
                )
                if item is None:
                    try:
                        event = event_from_point(
                            point, identity=identity, now_ns=now + index, limits=limits
                        )
                    except InvalidEvent as exc:
                        rejected.append((point.line_number, exc.message))
                        continue
                    item = encoded_event(event) or event
                    lines = lines and item is not event
                encoded.append(item)
            if encoded and lines:
                await store.write_lines([i for i in encoded if isinstance(i, EncodedEvent)])
            elif encoded:  # an event no line stands for: the whole write as events
                await store.write([_as_event(item) for item in encoded])
            return BatchOutcome(ids=[item.event_id for item in encoded], rejected=rejected)
        events: list[Event] = []
        for index, point in enumerate(points):
            try:
                events.append(
                    event_from_point(point, identity=identity, now_ns=now + index, limits=limits)
                )
            except InvalidEvent as exc:
                rejected.append((point.line_number, exc.message))
        if events:
            await store.write(events)
        return BatchOutcome(ids=[event.event_id for event in events], rejected=rejected)


def _as_event(item: EncodedEvent | Event) -> Event:
    return item if isinstance(item, Event) else line_event(item.line)
