"""``KafkaQueue``: the durable queue on a Kafka topic, for stateless API replicas.

One class, two roles:

* ``produce`` (every API replica): ``append`` produces the batch and returns
  once the brokers acknowledged every message; it never forwards
  (its forwarding lease is never granted);
* ``forward`` (``stats-service forward``): a consumer-group member. The
  forwarder of :mod:`stats_service.delivery.forwarder` drains it as it drains
  the outbox: ``next_batch`` hands out consumed messages as entries (``seq``
  is a local counter), ``settle`` first produces the rejected ones to the
  dead-letter topic, then commits each partition's offset past what was
  settled. Entries handed out but not settled stay buffered and are handed
  out again when the forwarder retries from the start (``after_seq=0``).

The live stream does not read the queue: :meth:`KafkaQueue.live_log` opens
a tail of the topic for it (:mod:`.tail`).

What is readable before forwarding: what this replica produced lately
(:mod:`.recent`). ``get_pending`` and ``query_pending`` answer from it, so the
replica that took a write reads it right after the ``2xx``; other replicas
read it from the backend once it is forwarded.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Literal

from stats_service.delivery.kafka.codec import decode_event, encode_event
from stats_service.delivery.kafka.config import KafkaConfig
from stats_service.delivery.kafka.consumer import EventConsumer, GroupConsumer, Message
from stats_service.delivery.kafka.deadcount import DeadLetterCount
from stats_service.delivery.kafka.deadletter import (
    KafkaDeadLetterTopic,
    dead_letter_messages,
    send_dead_letters,
)
from stats_service.delivery.kafka.lag import KafkaMetrics, NoKafkaMetrics
from stats_service.delivery.kafka.producer import EventProducer
from stats_service.delivery.kafka.recent import RecentWrites
from stats_service.delivery.kafka.replay import DeadLetters
from stats_service.delivery.kafka.tail import KafkaTail
from stats_service.delivery.kafka.tail_reader import TopicTail
from stats_service.delivery.lease import ForwardingLease
from stats_service.delivery.queue import (
    Appended,
    DeadLetter,
    OutboxCounts,
    OutboxEntry,
    OutboxStatus,
    QueueUnavailable,
    Rejection,
)
from stats_service.events.model import Event
from stats_service.events.query import EventPage, EventQuery

__all__ = ["KafkaQueue"]

_log = logging.getLogger(__name__)

Role = Literal["produce", "forward"]

_POLL_SECONDS = 0.5
_Refused = tuple[bytes, bytes, str, int | None, str]
"""A refused message: key, value, reason, backend status, source."""
_UNBOUNDED = 2**62
_FIRST_COUNT_SECONDS = 5.0


class _RoleLease:
    """Granted only to a forwarding member; the group, not a lease, shares the work."""

    def __init__(self, grant: bool) -> None:
        self._grant = grant
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def try_acquire(self) -> bool:
        self._held = self._grant
        return self._held

    def release(self) -> None:
        self._held = False


class _Handed:
    """An entry handed to the forwarder, and where its message is."""

    __slots__ = ("entry", "message")

    def __init__(self, entry: OutboxEntry, message: Message) -> None:
        self.entry = entry
        self.message = message


class KafkaQueue:
    """A :class:`~stats_service.delivery.queue.DurableQueue` on a Kafka topic."""

    def __init__(
        self,
        config: KafkaConfig,
        *,
        role: Role = "produce",
        metrics: KafkaMetrics | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        consumer: Callable[[Callable[[set[int]], None]], GroupConsumer] | None = None,
    ) -> None:
        """``consumer`` builds the group member from a revocation callback (tests
        pass an in-memory one); by default a real :class:`EventConsumer`."""
        self._config = config
        self._role = role
        self._metrics = metrics or NoKafkaMetrics()
        self._clock_ns = clock_ns
        self._producer = EventProducer(config, on_error=self._metrics.produce_error)
        make = consumer or (lambda on_revoke: EventConsumer(config, on_revoke=on_revoke))
        self._consumer = make(self._revoked) if role == "forward" else None
        self._lease = _RoleLease(role == "forward")
        self._revocations: set[int] = set()
        self._settled_high: dict[int, int] = {}  # partition -> highest offset settled
        self._revocations_lock = threading.Lock()
        self._started = False
        self._handed: dict[int, _Handed] = {}  # seq -> entry, in order handed out
        # (partition, offset) -> a message that is no event, until its dead letter is acknowledged
        self._undecodable: dict[tuple[int, int], _Refused] = {}
        self._recent = RecentWrites(config.read_your_writes_events)
        self._next_seq = 0
        self._lag: dict[int, int] = {}
        self._forwarded_ns: list[int] = []
        self._forwarded_counts: list[int] = []
        self._last_forward_ns: int | None = None
        self._last_error: tuple[str, int] | None = None
        self._dead_topic = KafkaDeadLetterTopic(config, self._producer)
        self._dead_count = DeadLetterCount(
            self._dead_topic, interval_seconds=config.dead_letter_refresh_seconds
        )

    @property
    def config(self) -> KafkaConfig:
        """The Kafka settings in use."""
        return self._config

    @property
    def role(self) -> Role:
        """``produce`` (an API replica) or ``forward`` (a group member)."""
        return self._role

    @property
    def writable(self) -> bool:
        """Whether appends can be produced now (the producer is open)."""
        return self._started

    async def start(self) -> None:
        """Open the producer and, when forwarding, join the group."""
        if self._started:
            return
        self._producer.start()
        if self._consumer is not None:
            await self._consumer.start()
        self._started = True
        self._dead_count.start()

    async def stop(self, timeout_seconds: float = 10.0) -> bool:
        """Leave the group, flush the producer; False if messages were still in flight."""
        self._started = False
        await self._dead_count.stop()
        if self._consumer is not None:
            await self._consumer.stop()
        self._handed.clear()
        return await asyncio.to_thread(self._producer.stop, timeout_seconds)

    def forwarding_lease(self) -> ForwardingLease:
        """Granted to a forwarding member only: an API replica never forwards."""
        return self._lease

    async def probe(self) -> str | None:
        """None when a broker answers a metadata request now, else why not (readiness)."""
        if await asyncio.to_thread(self._producer.reachable, 2.0):
            return None
        return f"no Kafka broker of {self._config.bootstrap_servers} answers"

    # -- the write path ---------------------------------------------------------

    async def append(self, events: Sequence[Event]) -> Appended:
        """Produce ``events``; returns once all are acknowledged (else ``QueueUnavailable``)."""
        if not self._started:
            raise QueueUnavailable("the Kafka queue is not open")
        messages = [encode_event(event) for event in events]
        started = time.monotonic()
        await self._producer.produce(self._config.topic, messages)
        self._metrics.produced(len(messages), time.monotonic() - started)
        self._recent.add(events, messages)
        return Appended(inserted=len(messages), pending_events=0, pending_bytes=0)

    # -- the forwarder's steps ---------------------------------------------------

    def _revoked(self, partitions: set[int]) -> None:
        """On the consumer's thread, inside a poll: noted here, applied on the loop."""
        with self._revocations_lock:
            self._revocations.update(partitions)

    def _apply_revocations(self) -> None:
        with self._revocations_lock:
            partitions, self._revocations = self._revocations, set()
        if not partitions:
            return
        for seq in [s for s, h in self._handed.items() if h.message.partition in partitions]:
            del self._handed[seq]
        for key in [k for k in self._undecodable if k[0] in partitions]:
            del self._undecodable[key]
        for partition in partitions:
            self._lag.pop(partition, None)
            self._settled_high.pop(partition, None)

    async def next_batch(
        self, max_events: int, max_bytes: int, *, after_seq: int = 0
    ) -> list[OutboxEntry]:
        """Handed-out entries after ``after_seq`` first, then newly consumed messages."""
        consumer = self._require_consumer()
        self._apply_revocations()
        batch: list[OutboxEntry] = []
        size = 0
        for seq, handed in list(self._handed.items()):
            if seq <= after_seq:
                continue
            if batch and (len(batch) >= max_events or size + handed.entry.size > max_bytes):
                return batch
            batch.append(handed.entry)
            size += handed.entry.size
        if len(batch) >= max_events:
            return batch
        messages = await consumer.poll(max_events - len(batch), _POLL_SECONDS if not batch else 0)
        self._apply_revocations()  # entries of partitions revoked in that poll are not ours
        batch = [entry for entry in batch if entry.seq in self._handed]
        for message in messages:
            try:
                event = decode_event(message.key, message.value)
            except ValueError as exc:
                self._undecodable[(message.partition, message.offset)] = (
                    message.key,
                    message.value,
                    str(exc),
                    None,
                    self._source(message),
                )
                continue
            self._next_seq += 1
            entry = OutboxEntry(
                seq=self._next_seq, event=event, size=len(message.key) + len(message.value)
            )
            self._handed[entry.seq] = _Handed(entry, message)
            batch.append(entry)
        if self._undecodable:
            await self._dead_letter_undecodable()
        return batch

    async def _dead_letter_undecodable(self) -> None:
        """Dead-letter the messages that are no events at all (never given to the backend).

        They stay in hand, and no commit passes them, until the dead-letter topic
        acknowledged them: a failed or cancelled send is tried again on the next read.
        """
        held = dict(self._undecodable)
        await self._dead_letter(list(held.values()))
        highest: dict[int, int] = {}
        for partition, offset in held:
            self._undecodable.pop((partition, offset), None)
            highest[partition] = max(highest.get(partition, offset), offset)
        await self._commit_through(highest)

    def _source(self, message: Message) -> str:
        return f"{self._config.topic}/{message.partition}/{message.offset}"

    async def _dead_letter(self, rejected: Sequence[_Refused]) -> None:
        await send_dead_letters(
            self._producer, self._config, dead_letter_messages(rejected, now_ns=self._clock_ns())
        )
        self._metrics.dead_lettered(len(rejected))
        self._dead_count.poke()

    async def _commit_through(self, highest: dict[int, int]) -> None:
        """Commit past ``highest`` per partition, but never past an unsettled entry."""
        floor: dict[int, int] = {}
        for handed in self._handed.values():
            partition, offset = handed.message.partition, handed.message.offset
            floor[partition] = min(floor.get(partition, offset), offset)
        for partition, offset in self._undecodable:
            floor[partition] = min(floor.get(partition, offset), offset)
        commits = {}
        for partition, offset in highest.items():
            high = max(offset, self._settled_high.get(partition, offset))
            self._settled_high[partition] = high
            pending = floor.get(partition)
            commits[partition] = high + 1 if pending is None or pending > high else pending
        await self._require_consumer().commit(commits)

    async def settle(
        self, forwarded: Sequence[OutboxEntry], rejected: Sequence[Rejection] = ()
    ) -> int:
        """Dead-letter ``rejected`` (acknowledged), then commit past everything settled."""
        self._require_consumer()
        if rejected:
            messages = []
            for rejection in rejected:
                handed = self._handed.get(rejection.entry.seq)
                if handed is None:
                    continue  # its partition was revoked: the new owner decides again
                messages.append(
                    (
                        handed.message.key,
                        handed.message.value,
                        rejection.reason,
                        rejection.status,
                        self._source(handed.message),
                    )
                )
            await self._dead_letter(messages)
        self._apply_revocations()
        settled = [entry.seq for entry in [*forwarded, *(r.entry for r in rejected)]]
        highest: dict[int, int] = {}
        done: list[_Handed] = []
        for seq in settled:
            handed = self._handed.pop(seq, None)
            if handed is None:
                continue  # revoked: the partition's new owner writes it again
            done.append(handed)
            partition, offset = handed.message.partition, handed.message.offset
            highest[partition] = max(highest.get(partition, offset), offset)
        if highest:
            try:
                await self._commit_through(highest)
            except BaseException:
                # Not committed (a rebalance, the broker away): hand them out again, so
                # the retry writes them again (the same points) and commits them then.
                for handed in done:
                    self._handed[handed.entry.seq] = handed
                self._handed = dict(sorted(self._handed.items()))
                raise
        now = self._clock_ns()
        if forwarded:
            self._last_forward_ns = now
            self._last_error = None
            self._forwarded_ns.append(now)
            self._forwarded_counts.append(len(forwarded))
        return await self._pending_hint()

    async def _pending_hint(self) -> int:
        consumer = self._require_consumer()
        self._lag = await consumer.lag()
        self._metrics.lag(self._lag)
        return len(self._handed) + sum(self._lag.values())

    async def record_error(self, text: str) -> None:
        """Remember the last delivery error (shown until a delivery succeeds)."""
        self._last_error = (text, self._clock_ns())

    async def prune(self) -> int:
        """Nothing to prune: the topic's retention forgets, not the service."""
        cutoff = self._clock_ns() - 60 * 1_000_000_000
        while self._forwarded_ns and self._forwarded_ns[0] < cutoff:
            self._forwarded_ns.pop(0)
            self._forwarded_counts.pop(0)
        return 0

    def _require_consumer(self) -> GroupConsumer:
        if self._consumer is None:
            raise QueueUnavailable("this process produces only; `stats-service forward` forwards")
        return self._consumer

    # -- reads --------------------------------------------------------------------

    def live_log(self) -> KafkaTail:
        """A new tail of the topic for this replica's live stream (start it to read)."""
        return KafkaTail(TopicTail(self._config), retain_events=self._config.stream_retain_events)

    async def get_pending(self, event_id: str) -> Event | None:
        """The event if this replica produced it lately (:mod:`.recent`), else None."""
        return self._recent.get(event_id)

    async def query_pending(self, query: EventQuery) -> EventPage:
        """This replica's lately produced events in the window (:mod:`.recent`)."""
        return self._recent.query(query)

    async def status(self, *, backend: str = "", backend_ok: bool | None = None) -> OutboxStatus:
        """Lag (as pending events), forward rate and last error of this member, and the
        dead letters not replayed (a producing queue just started, such as the CLI's,
        waits a little for their first count; a forwarder never waits)."""
        if self._role == "produce":
            await self._dead_count.first_attempt(_FIRST_COUNT_SECONDS)
        return self.status_sync(backend=backend, backend_ok=backend_ok)

    def status_sync(self, *, backend: str = "", backend_ok: bool | None = None) -> OutboxStatus:
        """:meth:`status` from what is known locally (the dead letters as last counted
        in the background, :mod:`.deadcount`); no network call. Safe on another
        thread (``stats-service forward``'s ``/metrics``): it reads copies."""
        now = self._clock_ns()
        cutoff = now - 60 * 1_000_000_000
        # Copies, each taken at once; the two lists may differ by the append in flight.
        stamps, sizes = list(self._forwarded_ns), list(self._forwarded_counts)
        pairs = zip(stamps, sizes, strict=False)
        recent = sum(count for stamp, count in pairs if stamp >= cutoff)
        error = self._last_error
        counts = OutboxCounts(
            pending_events=len(self._handed) + sum(dict(self._lag).values()),
            pending_bytes=0,
            oldest_pending_accepted_ns=None,
            dead_letters=self._dead_count.value,
            forwarded_last_minute=recent,
            last_forward_ns=self._last_forward_ns,
            last_error=None if error is None else error[0],
            last_error_ns=None if error is None else error[1],
        )
        return OutboxStatus.from_counts(
            counts,
            now_ns=now,
            writable=self._started,
            max_pending_events=_UNBOUNDED,
            max_pending_bytes=_UNBOUNDED,
            backend=backend,
            backend_ok=backend_ok,
        )

    # -- dead letters ---------------------------------------------------------------

    def _dead_letters(self) -> DeadLetters:
        if not self._started:
            raise QueueUnavailable("the Kafka queue is not open")
        return DeadLetters(self._dead_topic, clock_ns=self._clock_ns)

    async def deadletters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters not replayed yet (see :mod:`.replay`)."""
        return await self._dead_letters().list(limit)

    async def replay(self, event_ids: Sequence[str] | None = None) -> int:
        """Put dead letters (all, or these) back on the events topic and tombstone them;
        how many (a second replay finds them replayed)."""
        replayed = await self._dead_letters().replay(event_ids)
        if replayed:
            self._dead_count.poke()
        return replayed
