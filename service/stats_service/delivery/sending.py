"""One batch of pending entries to the backend: what to send, how to split, what each outcome means.

The forwarder (:mod:`.forwarder`) reads a batch and hands it to
:func:`deliver`, which writes it and records, entry by entry, what became of
it in a :class:`Settlement`. Two kinds of backend:

* a :class:`LineBackend` (both InfluxDB backends) takes line-protocol lines:
  the stored line of each entry is sent as it is, one request for the batch,
  and nothing is decoded. An entry of a queue that holds events only
  (memory, Kafka) is encoded here; one that cannot be encoded is
  dead-lettered with the encoder's reason and the rest sent;
* any other :class:`DeliveryBackend` (Postgres, the embedded store...) takes
  events: entries that hold a line are decoded back to their events.

What each outcome of a write means:

* it returns: every entry is stored;
* ``WriteRejected`` (``InfluxWriteRejected``) with ``rejected_event_ids``:
  those are dead-lettered with the backend's reason, every other entry is
  stored; with ``None`` (it cannot tell which) or status 413 (body too large)
  the batch is split in halves and each half written again, down to single
  entries; rewriting a stored point changes nothing, so the good entries all
  end up stored and only the bad ones are dead-lettered;
* ``InvalidEvent``: the encoder refused an event before anything was sent; the
  batch is bisected the same way and the refused event dead-lettered;
* ``ServiceUnavailable`` (``InfluxUnavailable``: network error, timeout, 5xx,
  429...) or anything unexpected: :class:`RetryLater`; what is already known
  stays in the settlement, the rest is tried again later. Nothing is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from stats_service.delivery.queue import OutboxEntry, Rejection
from stats_service.errors import InvalidEvent, ServiceUnavailable
from stats_service.events.model import Event
from stats_service.storage.base import WriteRejected
from stats_service.storage.influx.lineprotocol import encode_event

__all__ = [
    "DeliveryBackend",
    "LineBackend",
    "RetryLater",
    "Settlement",
    "deliver",
]

_log = logging.getLogger(__name__)

_TOO_LARGE = 413


class DeliveryBackend(Protocol):
    """What the forwarder needs of a storage backend."""

    async def open(self) -> None:
        """Acquire resources; called again by the forwarder if it failed at start."""

    async def write(self, events: Sequence[Event]) -> None:
        """Store ``events``; see the module docstring for what each outcome means."""


@runtime_checkable
class LineBackend(Protocol):
    """A backend that stores line-protocol lines as they are (InfluxDB)."""

    async def write_lines(self, lines: Sequence[tuple[str, bytes]]) -> None:
        """Store ``(event_id, line)`` pairs in one request; outcomes as ``write``."""


class Settlement:
    """What is known so far about the entries of one batch."""

    __slots__ = ("forwarded", "rejected", "requests", "seconds")

    def __init__(self) -> None:
        self.forwarded: list[OutboxEntry] = []
        self.rejected: list[Rejection] = []
        self.requests = 0
        self.seconds = 0.0


class RetryLater(Exception):
    """The backend cannot take the batch now; wait, then try the rest again."""

    def __init__(self, message: str, retry_after_seconds: float | None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_seconds = retry_after_seconds


class _Metrics(Protocol):
    def forward_error(self, kind: str) -> None: ...


async def deliver(
    backend: DeliveryBackend,
    entries: Sequence[OutboxEntry],
    settlement: Settlement,
    metrics: _Metrics,
) -> None:
    """Write ``entries``, splitting where needed; record every outcome in ``settlement``.

    Raises :class:`RetryLater` when the backend cannot take them now.
    """
    if isinstance(backend, LineBackend):
        lines = _lines(entries, settlement)
        await _deliver_lines(backend, lines, settlement, metrics)
    else:
        await _deliver_events(backend, entries, settlement, metrics)


class _Lines:
    """Entries and their lines, side by side: the lines are what is sent."""

    __slots__ = ("entries", "pairs")

    def __init__(self, entries: list[OutboxEntry], pairs: list[tuple[str, bytes]]) -> None:
        self.entries = entries
        self.pairs = pairs

    def halves(self) -> tuple[_Lines, _Lines]:
        middle = len(self.entries) // 2
        return (
            _Lines(self.entries[:middle], self.pairs[:middle]),
            _Lines(self.entries[middle:], self.pairs[middle:]),
        )


def _lines(entries: Sequence[OutboxEntry], settlement: Settlement) -> _Lines:
    """Each entry with the line to send; an entry that has none and cannot be
    encoded is dead-lettered at once."""
    sent: list[OutboxEntry] = []
    pairs: list[tuple[str, bytes]] = []
    for entry in entries:
        line = entry.line
        if line is None:
            try:
                line = encode_event(entry.event).encode("utf-8")
            except InvalidEvent as exc:
                reason = f"event {entry.event_id!r}: {exc.message}"
                settlement.rejected.append(Rejection(entry, reason, None))
                continue
            except UnicodeEncodeError as exc:
                reason = f"event {entry.event_id!r}: not valid UTF-8 ({exc.reason})"
                settlement.rejected.append(Rejection(entry, reason, None))
                continue
        sent.append(entry)
        pairs.append((entry.event_id, line))
    return _Lines(sent, pairs)


async def _deliver_lines(
    backend: LineBackend, lines: _Lines, settlement: Settlement, metrics: _Metrics
) -> None:
    if not lines.entries:
        return
    settlement.requests += 1
    try:
        await backend.write_lines(lines.pairs)
    except WriteRejected as exc:
        metrics.forward_error("rejected")
        ids = exc.rejected_event_ids
        if exc.status == _TOO_LARGE or ids is None:
            if len(lines.entries) == 1:
                settlement.rejected.append(Rejection(lines.entries[0], exc.reason, exc.status))
                return
            first, second = lines.halves()
            await _deliver_lines(backend, first, settlement, metrics)
            await _deliver_lines(backend, second, settlement, metrics)
            return
        for entry in lines.entries:
            if entry.event_id in ids:
                settlement.rejected.append(Rejection(entry, exc.reason, exc.status))
            else:
                settlement.forwarded.append(entry)
    except ServiceUnavailable as exc:
        raise RetryLater(exc.message, exc.retry_after_seconds) from None
    except Exception as exc:  # noqa: BLE001 -- logged; the entries stay pending
        # Unknown trouble (a bug, an unexpected answer): keep the entries, retry later.
        _log.exception("writing %d lines to the backend failed unexpectedly", len(lines.entries))
        raise RetryLater(f"{type(exc).__name__}: {exc}", None) from None
    else:
        settlement.forwarded.extend(lines.entries)


async def _deliver_events(
    backend: DeliveryBackend,
    entries: Sequence[OutboxEntry],
    settlement: Settlement,
    metrics: _Metrics,
) -> None:
    settlement.requests += 1
    try:
        await backend.write([entry.event for entry in entries])
    except WriteRejected as exc:
        metrics.forward_error("rejected")
        ids = exc.rejected_event_ids
        if exc.status == _TOO_LARGE or ids is None:
            await _split(backend, entries, settlement, metrics, exc.reason, exc.status)
            return
        for entry in entries:
            if entry.event_id in ids:
                settlement.rejected.append(Rejection(entry, exc.reason, exc.status))
            else:
                settlement.forwarded.append(entry)
    except InvalidEvent as exc:
        metrics.forward_error("rejected")
        await _split(backend, entries, settlement, metrics, exc.message, None)
    except ServiceUnavailable as exc:
        raise RetryLater(exc.message, exc.retry_after_seconds) from None
    except Exception as exc:  # noqa: BLE001 -- logged; the events stay pending
        # Unknown trouble (a bug, an unexpected answer): keep the events, retry later.
        _log.exception("writing %d events to the backend failed unexpectedly", len(entries))
        raise RetryLater(f"{type(exc).__name__}: {exc}", None) from None
    else:
        settlement.forwarded.extend(entries)


async def _split(
    backend: DeliveryBackend,
    entries: Sequence[OutboxEntry],
    settlement: Settlement,
    metrics: _Metrics,
    reason: str,
    status: int | None,
) -> None:
    if len(entries) == 1:
        settlement.rejected.append(Rejection(entries[0], reason, status))
        return
    middle = len(entries) // 2
    await _deliver_events(backend, entries[:middle], settlement, metrics)
    await _deliver_events(backend, entries[middle:], settlement, metrics)
