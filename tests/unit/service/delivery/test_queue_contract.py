"""Every durable queue keeps the same rules: the SQLite outbox and the in-memory queue."""

from __future__ import annotations

import pytest

from stats_service.delivery.memory import MemoryQueue
from stats_service.delivery.outbox import Outbox
from stats_service.delivery.queue import DurableQueue, OutboxFull, Rejection, append_encoded
from stats_service.errors import ServiceUnavailable
from stats_service.storage.base import EventQuery
from stats_service.storage.influx.lineprotocol import encode_event
from stats_service.storage.influx.stored import encoded_event

T0 = 1_700_000_000_000_000_000


@pytest.fixture(params=["sqlite", "memory"])
def make_queue(request, outbox_path, vtime):
    def build(**options) -> DurableQueue:
        options.setdefault("clock_ns", vtime.wall_ns)
        if request.param == "sqlite":
            return Outbox(outbox_path, **options)
        return MemoryQueue(**options)

    return build


def test_appends_skip_known_ids_and_keep_series_timestamps_apart(
    make_queue, make_event, run_bounded
):
    async def scenario():
        queue = make_queue()
        await queue.start()
        try:
            first = await queue.append([make_event("a"), make_event("a")])
            again = await queue.append([make_event("a"), make_event("b")])
            page = await queue.query_pending(EventQuery(0, 2**62, limit=10))
            return first, again, [(e.event_id, e.time_ns - T0) for e in page.events]
        finally:
            await queue.stop()

    first, again, stored = run_bounded(scenario)
    assert (first.inserted, first.pending_events) == (1, 1)
    assert (again.inserted, again.pending_events) == (1, 2)
    assert stored == [("a", 0), ("b", 1)]  # same series and time: b moved by 1 ns


def test_a_full_queue_refuses_the_whole_append(make_queue, make_event, run_bounded):
    async def scenario():
        queue = make_queue(max_pending_events=2)
        await queue.start()
        try:
            await queue.append([make_event("a", time_ns=T0)])
            with pytest.raises(OutboxFull):
                await queue.append([make_event(f"b{i}", time_ns=T0 + 1 + i) for i in range(2)])
            return (await queue.status()).pending_events
        finally:
            await queue.stop()

    assert run_bounded(scenario) == 1


def test_batches_settle_into_forwarded_and_dead_letters_that_replay(
    make_queue, make_event, run_bounded
):
    async def scenario():
        queue = make_queue()
        await queue.start()
        try:
            await queue.append([make_event(f"e{i}", time_ns=T0 + i) for i in range(5)])
            batch = await queue.next_batch(3, 1 << 20)
            later = await queue.next_batch(10, 1 << 20, after_seq=batch[-1].seq)
            left = await queue.settle(batch[:2], [Rejection(batch[2], "bad", 400)])
            letters = [(d.event.event_id, d.reason, d.status) for d in await queue.deadletters()]
            gone = await queue.get_pending("e0")
            replayed = await queue.replay(["e2"])
            status = await queue.status()
            return (
                [e.event.event_id for e in batch],
                [e.event.event_id for e in later],
                left,
                letters,
                gone,
                replayed,
                (status.pending_events, status.dead_letters),
            )
        finally:
            await queue.stop()

    batch, later, left, letters, gone, replayed, counts = run_bounded(scenario)
    assert batch == ["e0", "e1", "e2"]
    assert later == ["e3", "e4"]
    assert left == 2
    assert letters == [("e2", "bad", 400)]
    assert gone is None
    assert replayed == 1
    assert counts == (3, 0)


def test_a_stopped_queue_refuses_with_unavailable(make_queue, make_event, run_bounded):
    async def scenario():
        queue = make_queue()
        await queue.start()
        await queue.stop()
        assert not queue.writable
        with pytest.raises(ServiceUnavailable):
            await queue.append([make_event("a")])

    run_bounded(scenario)


def test_a_durable_store_delivers_through_the_memory_queue(
    backend, vtime, make_event, run_bounded, eventually
):
    from stats_service.delivery.config import DeliveryConfig  # noqa: PLC0415
    from stats_service.delivery.durable import DurableStore  # noqa: PLC0415

    async def scenario():
        store = DurableStore(
            backend,
            MemoryQueue(clock_ns=vtime.wall_ns),
            config=DeliveryConfig(linger_seconds=0.0),
            monotonic=vtime.monotonic,
            sleep=vtime.sleep,
        )
        await store.open()
        try:
            await store.write([make_event(f"e{i}", time_ns=T0 + i) for i in range(3)])
            found = await store.get("e1")

            async def delivered() -> bool:
                return (await store.status()).pending_events == 0

            await eventually(delivered, vtime=vtime, what="delivery")
            return found
        finally:
            await store.close()

    found = run_bounded(scenario)
    assert found is not None
    assert backend.stored_ids() == ["e0", "e1", "e2"]


def test_entries_name_their_event_and_any_line_they_carry_is_the_encoders(
    make_queue, make_event, run_bounded
):
    events = [make_event(f"e{i}", time_ns=T0 + i, fields={"n": i, "s": "a b"}) for i in range(3)]
    odd = make_event("odd", time_ns=T0 + 9, tags={"empty": ""})

    async def scenario():
        queue = make_queue()
        await queue.start()
        try:
            await queue.append([*events, odd])
            return await queue.next_batch(10, 1 << 20)
        finally:
            await queue.stop()

    batch = run_bounded(scenario)
    assert [entry.event_id for entry in batch] == ["e0", "e1", "e2", "odd"]
    assert [entry.event for entry in batch] == [*events, odd]
    for entry in batch:  # a queue may keep lines; the forwarder sends them as they are
        if entry.line is not None:
            assert entry.line == encode_event(entry.event).encode()
    assert batch[-1].line is None  # no line stands for an event with an empty tag


def test_encoded_appends_follow_the_same_rules_on_every_queue(make_queue, make_event, run_bounded):
    # The SQLite outbox takes the lines as they are; a queue without append_lines
    # gets the decoded events (append_encoded's fallback). Same outcome either way.
    first = [encoded_event(make_event(f"e{i}", time_ns=T0, fields={"n": i})) for i in range(2)]
    again = [encoded_event(make_event("e0", time_ns=T0 + 5))]

    async def scenario():
        queue = make_queue()
        await queue.start()
        try:
            appended = await append_encoded(queue, first)
            repeated = await append_encoded(queue, again)
            batch = await queue.next_batch(10, 1 << 20)
            page = await queue.query_pending(EventQuery(0, 2**62, limit=10))
            return appended, repeated, batch, page
        finally:
            await queue.stop()

    appended, repeated, batch, page = run_bounded(scenario)
    assert (appended.inserted, repeated.inserted) == (2, 0)  # e0 is known
    assert [(e.event_id, e.time_ns - T0) for e in page.events] == [("e0", 0), ("e1", 1)]
    assert [entry.event for entry in batch] == page.events  # e1 moved by 1 ns, line too
    for entry in batch:
        if entry.line is not None:
            assert entry.line == encode_event(entry.event).encode()
