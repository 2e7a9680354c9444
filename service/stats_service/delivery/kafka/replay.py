"""Listing and replaying the dead-letter topic; a replayed letter is tombstoned.

The dead-letter topic holds two kinds of record, both keyed by the event id
(so both land in the same partition, in order): a dead letter (the event's
message as it was on the events topic, with the ``reason`` headers of
:mod:`.deadletter`) and a tombstone (no value; header ``replayed_ns``),
written once a replay has put that letter back on the events topic. The
last record of a key decides: a letter is pending unless a tombstone
follows it. A letter refused again after its replay is a new record after
the tombstone, so it is listed again.

Why tombstones rather than a consumer group's offset on the dead topic: a
replay may choose single events, and an offset can only say "everything
before here"; a tombstone marks exactly the letters replayed, survives any
number of readers, and is what log compaction understands (with
``cleanup.policy=compact`` the replayed letters are eventually removed,
keeping the topic small). Listing reads the topic from its start to its
current end each time: a dead-letter topic is small, and that is the price
of needing no state outside Kafka.

Replay produces the letter's own key and value to the events topic and
waits for the acknowledgement before tombstoning: the event id and its
deterministic timestamp (already in the value) make the second delivery an
overwrite of the same point, so a replay interrupted between the two steps
and run again writes nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from stats_service.delivery.kafka.codec import decode_event
from stats_service.delivery.queue import DeadLetter

__all__ = [
    "DeadLetterTopic",
    "DeadLetters",
    "DeadRecord",
    "MemoryDeadLetterTopic",
    "as_dead_letter",
    "pending",
]

_log = logging.getLogger(__name__)

REPLAYED_HEADER = "replayed_ns"
"""The header of a tombstone: when the letter was replayed (ns since the epoch)."""


@dataclass(frozen=True, slots=True)
class DeadRecord:
    """One record of the dead-letter topic; ``value`` None is a tombstone."""

    partition: int
    offset: int
    key: bytes
    value: bytes | None
    headers: dict[str, str] = field(default_factory=dict)
    timestamp_ms: int = 0
    """When the broker got it (the dead-lettering, for a letter)."""


class DeadLetterTopic(Protocol):
    """The dead-letter topic and the events topic, as replay needs them."""

    async def scan(self) -> list[DeadRecord]:
        """Every record of the dead-letter topic up to its end now, in offset order."""
        ...

    async def produce_events(self, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """Produce ``(key, value)`` to the events topic; return once acknowledged."""
        ...

    async def tombstone(self, keys: Sequence[bytes], now_ns: int) -> None:
        """Produce a tombstone for each key to the dead-letter topic; return once acknowledged."""
        ...


def pending(records: Sequence[DeadRecord]) -> list[DeadRecord]:
    """The letters not tombstoned after them, oldest dead-lettering first."""
    last: dict[bytes, DeadRecord] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        last[record.key] = record
    letters = [r for r in last.values() if r.value is not None]
    return sorted(letters, key=lambda r: (_dead_lettered_ns(r), r.partition, r.offset))


def _dead_lettered_ns(record: DeadRecord) -> int:
    text = record.headers.get("dead_lettered_ns", "")
    return int(text) if text.isascii() and text.isdigit() else record.timestamp_ms * 1_000_000


def as_dead_letter(record: DeadRecord) -> DeadLetter | None:
    """The :class:`DeadLetter` a letter holds; None when its message is not an event."""
    try:
        event = decode_event(record.key, record.value or b"")
    except ValueError:
        return None
    status = record.headers.get("status", "")
    return DeadLetter(
        event=event,
        reason=record.headers.get("reason", ""),
        status=int(status) if status.isascii() and status.isdigit() else None,
        accepted_ns=max(0, record.timestamp_ms) * 1_000_000,
        dead_lettered_ns=_dead_lettered_ns(record),
    )


class DeadLetters:
    """``deadletters`` and ``replay`` of the Kafka queue, over a :class:`DeadLetterTopic`."""

    def __init__(
        self, topic: DeadLetterTopic, *, clock_ns: Callable[[], int] = time.time_ns
    ) -> None:
        self._topic = topic
        self._clock_ns = clock_ns

    async def list(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` pending dead letters (messages that are no events are left out)."""
        letters: list[DeadLetter] = []
        for record in pending(await self._topic.scan()):
            letter = as_dead_letter(record)
            if letter is not None:
                letters.append(letter)
                if len(letters) >= limit:
                    break
        return letters

    async def replay(self, event_ids: Sequence[str] | None = None) -> int:
        """Put pending letters (all, or those of ``event_ids``) back on the events topic,
        then tombstone them; how many. A message that is no event is never replayed."""
        wanted = None if event_ids is None else {i.encode("utf-8") for i in event_ids}
        chosen = [
            record
            for record in pending(await self._topic.scan())
            if (wanted is None or record.key in wanted) and as_dead_letter(record) is not None
        ]
        if not chosen:
            return 0
        await self._topic.produce_events([(r.key, r.value or b"") for r in chosen])
        await self._topic.tombstone([r.key for r in chosen], self._clock_ns())
        _log.info("replayed %d dead letters to the events topic", len(chosen))
        return len(chosen)


class MemoryDeadLetterTopic:
    """A :class:`DeadLetterTopic` in memory: one partition of each topic, as lists."""

    def __init__(self) -> None:
        self.records: list[DeadRecord] = []
        self.events: list[tuple[bytes, bytes]] = []

    def dead_letter(self, key: bytes, value: bytes, **headers: str) -> None:
        """Append a letter (as the forwarder would)."""
        self.records.append(DeadRecord(0, len(self.records), key, value, dict(headers)))

    async def scan(self) -> list[DeadRecord]:
        return list(self.records)

    async def watermarks(self) -> dict[int, tuple[int, int]]:
        return {0: (0, len(self.records))} if self.records else {}

    async def produce_events(self, messages: Sequence[tuple[bytes, bytes]]) -> None:
        self.events.extend(messages)

    async def tombstone(self, keys: Sequence[bytes], now_ns: int) -> None:
        for key in keys:
            headers = {REPLAYED_HEADER: str(now_ns)}
            self.records.append(DeadRecord(0, len(self.records), key, None, headers))
