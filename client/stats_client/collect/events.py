"""Poll results as stats-service events, shipped through the SDK's ``Analytics``.

One event per label set and poll: ``event`` is ``collect.<source>.<metric>``,
the labels are ``tags``, ``value`` is a field and ``time`` is the poll time.
A delta counter's ``value`` is the increase since the previous poll (with a
``total`` field, and ``reset: true`` after a counter reset); a summary's or
histogram's ``value`` is the sum of its observations, with ``count``. A
window's events carry ``window_since``/``window_until``, the window start
as ``time`` and an ``event_id`` derived from the window, so shipping the
same window twice stores it once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO, Any, Protocol

from stats_client._wire import new_event_id
from stats_client.analytics import Analytics
from stats_client.collect.delta import Delta
from stats_client.collect.instants import iso
from stats_client.collect.model import Reading

__all__ = [
    "AnalyticsSink",
    "EventSink",
    "MemorySink",
    "PrintSink",
    "delta_events",
    "reading_events",
    "window_event_id",
    "window_events",
]

Event = dict[str, Any]


def _event(
    source: str, reading: Reading, labels: tuple[str, ...], when: dt.datetime, **fields: Any
) -> Event:
    event: Event = {
        "event": f"collect.{source}.{reading.metric.name}",
        "uid": "",
        "time": iso(when),
    }
    tags = reading.labels(labels)
    if tags:
        event["tags"] = tags
    event.update(fields)
    return event


def reading_events(source: str, reading: Reading, when: dt.datetime, **extra: Any) -> list[Event]:
    """Events of a counter, gauge, summary or histogram reading (not a delta counter)."""
    events = [
        _event(source, reading, labels, when, value=value, **extra)
        for labels, value in reading.samples.items()
    ]
    events.extend(
        _event(source, reading, labels, when, value=sum(obs), count=len(obs), **extra)
        for labels, obs in reading.observations.items()
    )
    return events


def window_event_id(
    source: str, metric: str, labels: dict[str, str], since: str, until: str
) -> str:
    """The same id for the same window's same label set, every time it is shipped."""
    key = json.dumps([source, metric, sorted(labels.items()), since, until])
    return "collect_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def window_events(
    source: str, reading: Reading, since: dt.datetime, until: dt.datetime
) -> list[Event]:
    """Events of one window: stamped with its start, carrying its bounds and a stable id."""
    bounds = {"window_since": iso(since), "window_until": iso(until)}
    events = reading_events(source, reading, since, **bounds)
    for event in events:
        event["event_id"] = window_event_id(
            source, reading.metric.name, event.get("tags", {}), *bounds.values()
        )
    return events


def delta_events(
    source: str, reading: Reading, deltas: Sequence[Delta], when: dt.datetime
) -> list[Event]:
    """Events of a delta counter: one per label set whose total moved."""
    out = []
    for delta in deltas:
        fields: dict[str, Any] = {"value": delta.increase, "total": delta.total}
        if delta.reset:
            fields["reset"] = True
        out.append(_event(source, reading, delta.labels, when, **fields))
    return out


class EventSink(Protocol):
    """Where events go."""

    def send(self, events: Sequence[Event]) -> None:
        """Hand the events over (never blocks on the network)."""
        ...

    def flush(self, timeout_seconds: float) -> bool:
        """Wait until everything sent so far is delivered; False on timeout."""
        ...

    def close(self) -> None:
        """Deliver what is left (bounded) and release resources."""
        ...


class _Stamps:
    """The SDK's clock and id factory: this event's poll time and id while it is logged.

    ``Analytics.log`` stamps each event with its ``clock_ns`` and
    ``id_factory``; setting both per thread around the call makes the stamps
    the poll time and (for windows) the stable id; otherwise the SDK's own.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def clock_ns(self) -> int:
        moment: int | None = getattr(self._local, "ns", None)
        return time.time_ns() if moment is None else moment

    def event_id(self) -> str:
        fixed: str | None = getattr(self._local, "event_id", None)
        return new_event_id() if fixed is None else fixed

    def set(self, ns: int | None, event_id: str | None) -> None:
        self._local.ns = ns
        self._local.event_id = event_id


def _iso_to_ns(text: str) -> int:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    whole = int(moment.replace(microsecond=0).timestamp())
    return whole * 1_000_000_000 + moment.microsecond * 1000


class AnalyticsSink:
    """Ships through the SDK's ``Analytics`` (its queue, batching and retries).

    ``options`` are ``Analytics`` options (``url``, ``access_token``, ...);
    the sink supplies the clock so each event keeps its poll time.
    """

    def __init__(self, *, close_timeout_seconds: float = 5.0, **options: Any) -> None:
        self._stamps = _Stamps()
        self.analytics = Analytics(
            options, clock_ns=self._stamps.clock_ns, id_factory=self._stamps.event_id
        )
        self._close_timeout = close_timeout_seconds

    def send(self, events: Sequence[Event]) -> None:
        for event in events:
            data = dict(event)
            when = data.pop("time", None)
            event_id = data.pop("event_id", None)
            self._stamps.set(
                _iso_to_ns(when) if isinstance(when, str) else None,
                event_id if isinstance(event_id, str) else None,
            )
            try:
                self.analytics.log(data)
            finally:
                self._stamps.set(None, None)

    def flush(self, timeout_seconds: float) -> bool:
        return self.analytics.flush(timeout_seconds)

    def close(self) -> None:
        self.analytics.close(self._close_timeout)


class MemorySink:
    """Keeps events in a list (tests); ``fail`` makes ``flush`` report a failure."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.fail = False

    def send(self, events: Sequence[Event]) -> None:
        self.events.extend(events)

    def flush(self, timeout_seconds: float) -> bool:
        return not self.fail

    def close(self) -> None:
        return None


class PrintSink:
    """Writes each event as one JSON line (``--dry-run``)."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self._out = out or sys.stdout
        self.count = 0

    def send(self, events: Sequence[Event]) -> None:
        for event in events:
            self._out.write(json.dumps(event, sort_keys=True) + "\n")
            self.count += 1

    def flush(self, timeout_seconds: float) -> bool:
        self._out.flush()
        return True

    def close(self) -> None:
        return None
