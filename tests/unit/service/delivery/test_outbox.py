"""The durable outbox: acceptance, idempotency, unique series timestamps, bounds, settling,
dead letters, pruning, counters and reads; all against a real SQLite file."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import threading

import pytest

from stats_service.delivery.outbox import Outbox
from stats_service.delivery.queue import (
    OutboxCounts,
    OutboxEntry,
    OutboxFull,
    OutboxStatus,
    Rejection,
)
from stats_service.errors import InvalidEvent, ServiceUnavailable
from stats_service.storage.base import EventQuery
from stats_service.storage.influx.series import series_hash

T0 = 1_700_000_000_000_000_000
HOUR = 3600.0


def ids(events_or_entries) -> list[str]:
    return [getattr(item, "event", item).event_id for item in events_or_entries]


async def drain_all(outbox: Outbox) -> list[OutboxEntry]:
    entries = await outbox.next_batch(10_000, 1 << 30)
    await outbox.settle(entries)
    return entries


# -- series hash -------------------------------------------------------------------------


def test_the_series_hash_ignores_tag_order_and_empty_tags():
    a = series_hash("m", {"a": "1", "b": "2"})
    assert series_hash("m", {"b": "2", "a": "1"}) == a
    assert series_hash("m", {"b": "2", "a": "1", "c": ""}) == a
    assert -(2**63) <= a < 2**63


@pytest.mark.parametrize(
    ("measurement", "tags"),
    [
        ("other", {"a": "1", "b": "2"}),
        ("m", {"a": "1", "b": "3"}),
        ("m", {"a": "1"}),
        ("m", {"a": "1", "b": "2", "c": "3"}),
        ("m", {"a": "1b", "": "2"}),
    ],
    ids=["measurement", "tag-value", "fewer-tags", "more-tags", "shifted-boundary"],
)
def test_different_series_hash_differently(measurement, tags):
    assert series_hash(measurement, tags) != series_hash("m", {"a": "1", "b": "2"})


def test_the_series_hash_is_pinned():
    # Stored in the outbox file: it must be the same in every process and version.
    digest = hashlib.blake2b(b"analytics\x00event\x00signup\x00uid\x00x", digest_size=8)
    expected = int.from_bytes(digest.digest(), "big", signed=True)
    assert series_hash("analytics", {"uid": "x", "event": "signup"}) == expected


# -- append, batches, settling ------------------------------------------------------------


def test_appended_events_come_back_in_order_as_one_batch(make_outbox, make_event, run_bounded):
    events = [make_event(f"e{i}", time_ns=T0 + 10 - i, fields={"n": i}) for i in range(5)]

    async def scenario():
        outbox = make_outbox()
        appended = await outbox.append(events)
        batch = await outbox.next_batch(100, 1 << 20)
        return appended, batch

    appended, batch = run_bounded(scenario)
    assert (appended.inserted, appended.pending_events) == (5, 5)
    assert appended.pending_bytes == sum(entry.size for entry in batch) > 0
    assert [entry.event for entry in batch] == events
    assert [entry.seq for entry in batch] == sorted(entry.seq for entry in batch)


@pytest.mark.parametrize(
    ("max_events", "max_bytes", "expected"),
    [(3, 1 << 20, 3), (100, 1, 1), (100, 0, 1)],
    ids=["by-count", "by-bytes-one-goes-alone", "zero-bytes-still-one"],
)
def test_batches_are_bounded_by_count_and_bytes(
    make_outbox, make_event, run_bounded, max_events, max_bytes, expected
):
    async def scenario():
        outbox = make_outbox()
        await outbox.append([make_event(f"e{i}", time_ns=T0 + i) for i in range(10)])
        return await outbox.next_batch(max_events, max_bytes)

    assert ids(run_bounded(scenario)) == [f"e{i}" for i in range(expected)]


def test_a_byte_bound_stops_before_the_event_that_would_cross_it(
    make_outbox, make_event, run_bounded
):
    async def scenario():
        outbox = make_outbox()
        await outbox.append([make_event(f"e{i}", time_ns=T0 + i) for i in range(10)])
        whole = await outbox.next_batch(10, 1 << 20)
        two_and_a_half = whole[0].size + whole[1].size + whole[2].size // 2
        return await outbox.next_batch(10, two_and_a_half)

    assert ids(run_bounded(scenario)) == ["e0", "e1"]


def test_settling_marks_forwarded_and_dead_letters_in_one_go(make_outbox, make_event, run_bounded):
    async def scenario():
        outbox = make_outbox()
        await outbox.append([make_event(f"e{i}", time_ns=T0 + i) for i in range(4)])
        batch = await outbox.next_batch(10, 1 << 20)
        left = await outbox.settle(batch[:2], [Rejection(batch[2], "type conflict", 400)])
        return left, await outbox.next_batch(10, 1 << 20), await outbox.counts()

    left, rest, counts = run_bounded(scenario)
    assert left == 1
    assert ids(rest) == ["e3"]
    assert counts.pending_events == 1
    assert counts.pending_bytes == rest[0].size
    assert counts.dead_letters == 1
    assert counts.forwarded_last_minute == 2


def test_settling_never_marks_a_row_it_was_not_given(make_outbox, make_event, run_bounded):
    """A dead letter replayed between reading a batch and settling it lies inside the
    batch's seq range; marking the range forwarded would drop it silently."""

    async def scenario():
        outbox = make_outbox()
        await outbox.append([make_event(f"e{i}", time_ns=T0 + i) for i in range(5)])
        first = await outbox.next_batch(10, 1 << 20)
        await outbox.settle([], [Rejection(first[2], "bad", 400)])
        batch = await outbox.next_batch(10, 1 << 20)  # e0 e1 e3 e4
        assert await outbox.replay(["e2"]) == 1
        left = await outbox.settle(batch)
        return left, await outbox.next_batch(10, 1 << 20), await outbox.counts()

    left, pending, counts = run_bounded(scenario)
    assert left == 1
    assert ids(pending) == ["e2"]
    assert (counts.pending_events, counts.pending_bytes) == (1, pending[0].size)


def test_batches_can_start_after_a_seq(make_outbox, make_event, run_bounded):
    async def scenario():
        outbox = make_outbox()
        await outbox.append([make_event(f"e{i}", time_ns=T0 + i) for i in range(6)])
        first = await outbox.next_batch(2, 1 << 20)
        return first, await outbox.next_batch(2, 1 << 20, after_seq=first[-1].seq)

    first, second = run_bounded(scenario)
    assert (ids(first), ids(second)) == (["e0", "e1"], ["e2", "e3"])


# -- idempotency ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["pending", "forwarded", "dead"], ids=str)
def test_a_known_id_is_skipped_whatever_its_state(make_outbox, make_event, run_bounded, state):
    first = make_event("dup", fields={"version": 1})
    retry = make_event("dup", time_ns=T0 + 99, fields={"version": 2})

    async def scenario():
        outbox = make_outbox()
        await outbox.append([first])
        if state != "pending":
            batch = await outbox.next_batch(10, 1 << 20)
            if state == "forwarded":
                await outbox.settle(batch)
            else:
                await outbox.settle([], [Rejection(batch[0], "bad", 400)])
        appended = await outbox.append([retry])
        return appended, await outbox.counts(), await outbox.get_pending("dup")

    appended, counts, pending = run_bounded(scenario)
    assert appended.inserted == 0
    assert counts.pending_events == (1 if state == "pending" else 0)
    assert pending == (first if state == "pending" else None)


def test_within_one_append_the_first_duplicate_wins(make_outbox, make_event, run_bounded):
    batch = [make_event("a", fields={"n": 1}), make_event("b"), make_event("a", fields={"n": 2})]

    async def scenario():
        outbox = make_outbox()
        appended = await outbox.append(batch)
        return appended, await outbox.next_batch(10, 1 << 20)

    appended, entries = run_bounded(scenario)
    assert appended.inserted == 2
    assert ids(entries) == ["a", "b"]
    assert entries[0].event.fields["n"] == 1


def test_a_retried_batch_mixing_known_and_new_ids_adds_only_the_new(
    make_outbox, make_event, run_bounded
):
    async def scenario():
        outbox = make_outbox()
        await outbox.append([make_event("a", time_ns=T0), make_event("b", time_ns=T0 + 1)])
        again = await outbox.append(
            [
                make_event("a", time_ns=T0),
                make_event("b", time_ns=T0 + 1),
                make_event("c", time_ns=T0 + 2),
            ]
        )
        return again, await outbox.next_batch(10, 1 << 20)

    again, entries = run_bounded(scenario)
    assert again.inserted == 1
    assert [(e.event.event_id, e.event.time_ns) for e in entries] == [
        ("a", T0),
        ("b", T0 + 1),
        ("c", T0 + 2),
    ]


# -- unique timestamps per series -----------------------------------------------------------


def test_events_sharing_series_and_time_get_distinct_times(make_outbox, make_event, run_bounded):
    batch = [make_event(f"e{i}", time_ns=T0, uid=f"user-{i}") for i in range(5)]

    async def scenario():
        outbox = make_outbox()
        await outbox.append(batch)
        return await outbox.next_batch(10, 1 << 20)

    entries = run_bounded(scenario)
    assert [(e.event.event_id, e.event.time_ns) for e in entries] == [
        (f"e{i}", T0 + i) for i in range(5)
    ]
    assert [e.event.fields for e in entries] == [b.fields for b in batch]


def test_a_moved_time_skips_slots_already_taken(make_outbox, make_event, run_bounded):
    async def scenario():
        outbox = make_outbox()
        await outbox.append([make_event("x0", time_ns=T0), make_event("x1", time_ns=T0 + 1)])
        await outbox.append([make_event("y", time_ns=T0), make_event("z", time_ns=T0 + 1)])
        return await outbox.next_batch(10, 1 << 20)

    entries = run_bounded(scenario)
    assert {e.event.event_id: e.event.time_ns for e in entries} == {
        "x0": T0,
        "x1": T0 + 1,
        "y": T0 + 2,
        "z": T0 + 3,
    }


def test_forwarded_events_keep_their_slot_within_the_window(make_outbox, make_event, run_bounded):
    async def scenario():
        outbox = make_outbox()
        await outbox.append([make_event("old", time_ns=T0)])
        await drain_all(outbox)
        await outbox.append([make_event("new", time_ns=T0)])
        return await outbox.next_batch(10, 1 << 20)

    (entry,) = run_bounded(scenario)
    assert (entry.event.event_id, entry.event.time_ns) == ("new", T0 + 1)


@pytest.mark.parametrize(
    "other",
    [
        {"measurement": "cpu"},
        {"tags": {"host": "b"}},
        {"event": "login"},
    ],
    ids=["other-measurement", "extra-tag", "other-event-tag"],
)
def test_events_of_other_series_keep_their_time(make_outbox, make_event, run_bounded, other):
    async def scenario():
        outbox = make_outbox()
        await outbox.append([make_event("a", time_ns=T0), make_event("b", time_ns=T0, **other)])
        return await outbox.next_batch(10, 1 << 20)

    assert [e.event.time_ns for e in run_bounded(scenario)] == [T0, T0]


def test_an_empty_tag_value_does_not_make_another_series(make_outbox, make_event, run_bounded):
    async def scenario():
        outbox = make_outbox()
        await outbox.append(
            [make_event("a", time_ns=T0), make_event("b", time_ns=T0, tags={"host": ""})]
        )
        return await outbox.next_batch(10, 1 << 20)

    assert [e.event.time_ns for e in run_bounded(scenario)] == [T0, T0 + 1]


def test_many_events_at_one_instant_spread_over_consecutive_nanoseconds(
    make_outbox, make_event, run_bounded
):
    async def scenario():
        outbox = make_outbox()
        for start in range(0, 600, 200):
            await outbox.append(
                [make_event(f"e{i:04d}", time_ns=T0) for i in range(start, start + 200)]
            )
        return await outbox.next_batch(1000, 1 << 30)

    times = sorted(e.event.time_ns for e in run_bounded(scenario))
    assert times == list(range(T0, T0 + 600))


def test_no_free_time_at_the_end_of_time_is_refused(make_outbox, make_event, run_bounded):
    last = 2**63 - 2

    async def scenario():
        outbox = make_outbox()
        await outbox.append([make_event("a", time_ns=last)])
        with pytest.raises(InvalidEvent, match="no free timestamp"):
            await outbox.append([make_event("b", time_ns=last)])
        return await outbox.counts()

    assert run_bounded(scenario).pending_events == 1


# -- bounds -------------------------------------------------------------------------------


def test_an_append_over_the_event_bound_is_refused_whole(make_outbox, make_event, run_bounded):
    async def scenario():
        outbox = make_outbox(max_pending_events=5)
        await outbox.append([make_event(f"a{i}", time_ns=T0 + i) for i in range(3)])
        with pytest.raises(OutboxFull) as caught:
            await outbox.append([make_event(f"b{i}", time_ns=T0 + 10 + i) for i in range(3)])
        fitting = await outbox.append([make_event(f"c{i}", time_ns=T0 + 20 + i) for i in range(2)])
        return caught.value, fitting, await outbox.next_batch(100, 1 << 20)

    error, fitting, entries = run_bounded(scenario)
    assert isinstance(error, ServiceUnavailable)
    assert error.status_code == 503
    assert "full" in error.message
    assert fitting.pending_events == 5
    assert ids(entries) == ["a0", "a1", "a2", "c0", "c1"]


def test_an_append_over_the_byte_bound_is_refused_whole(make_outbox, make_event, run_bounded):
    async def scenario():
        probe = make_outbox()
        size = (await probe.append([make_event("probe")])).pending_bytes
        probe.close()
        outbox = Outbox(
            probe.path.with_name("bounded.sqlite3"), max_pending_bytes=size * 3 + size // 2
        )
        outbox.open()
        try:
            await outbox.append([make_event(f"a{i}", time_ns=T0 + i) for i in range(3)])
            with pytest.raises(OutboxFull):
                await outbox.append([make_event("b", time_ns=T0 + 9)])
            return await outbox.counts()
        finally:
            outbox.close()

    assert run_bounded(scenario).pending_events == 3


def test_forwarding_frees_room(make_outbox, make_event, run_bounded):
    async def scenario():
        outbox = make_outbox(max_pending_events=2)
        await outbox.append([make_event("a", time_ns=T0), make_event("b", time_ns=T0 + 1)])
        with pytest.raises(OutboxFull):
            await outbox.append([make_event("c", time_ns=T0 + 2)])
        await drain_all(outbox)
        return await outbox.append([make_event("c", time_ns=T0 + 2)])

    assert run_bounded(scenario).inserted == 1


def test_known_ids_do_not_count_against_a_full_outbox(make_outbox, make_event, run_bounded):
    async def scenario():
        outbox = make_outbox(max_pending_events=2)
        events = [make_event("a", time_ns=T0), make_event("b", time_ns=T0 + 1)]
        await outbox.append(events)
        return await outbox.append(events)  # a client retry after a lost answer

    assert run_bounded(scenario).inserted == 0


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "minus-inf"]
)
def test_a_non_finite_field_refuses_the_whole_append(make_outbox, make_event, run_bounded, value):
    async def scenario():
        outbox = make_outbox()
        with pytest.raises(InvalidEvent) as caught:
            await outbox.append([make_event("fine"), make_event("bad", fields={"ratio": value})])
        return caught.value, await outbox.counts()

    error, counts = run_bounded(scenario)
    assert error.key == "ratio"
    assert counts.pending_events == 0


def test_a_closed_outbox_refuses_with_unavailable(outbox_path, make_event, run_bounded):
    async def scenario():
        outbox = Outbox(outbox_path)
        with pytest.raises(ServiceUnavailable):
            await outbox.append([make_event()])
        outbox.open()
        outbox.close()
        with pytest.raises(ServiceUnavailable):
            await outbox.append([make_event()])
        with pytest.raises(ServiceUnavailable):
            await outbox.counts()

    run_bounded(scenario)


@pytest.mark.parametrize(
    "kwargs", [{"max_pending_events": 0}, {"max_pending_bytes": 0}], ids=["events", "bytes"]
)
def test_bounds_must_be_positive(outbox_path, kwargs):
    with pytest.raises(ValueError, match="positive"):
        Outbox(outbox_path, **kwargs)


# -- durability ----------------------------------------------------------------------------


def test_pending_events_and_counters_survive_a_reopen(outbox_path, make_event, run_bounded):
    events = [make_event(f"e{i}", time_ns=T0 + i) for i in range(4)]

    async def first_life():
        outbox = Outbox(outbox_path)
        outbox.open()
        await outbox.append(events)
        batch = await outbox.next_batch(1, 1 << 20)
        await outbox.settle(batch)
        outbox.close()

    async def second_life():
        outbox = Outbox(outbox_path)
        outbox.open()
        try:
            return await outbox.counts(), await outbox.next_batch(10, 1 << 20)
        finally:
            outbox.close()

    run_bounded(first_life)
    counts, entries = run_bounded(second_life)
    assert counts.pending_events == 3
    assert [entry.event for entry in entries] == events[1:]


def test_committed_events_survive_an_outbox_that_was_never_closed(
    outbox_path, make_event, run_bounded
):
    abandoned = Outbox(outbox_path)

    async def crash():
        abandoned.open()
        await abandoned.append([make_event("kept", time_ns=T0)])
        # no close: the process "dies" with the writer thread still holding the file

    async def restart():
        outbox = Outbox(outbox_path)
        outbox.open()
        try:
            return await outbox.next_batch(10, 1 << 20)
        finally:
            outbox.close()

    try:
        run_bounded(crash)
        assert ids(run_bounded(restart)) == ["kept"]
    finally:
        abandoned.close()


def test_repair_recomputes_counters_from_the_rows(outbox_path, make_event, run_bounded):
    async def scenario():
        outbox = Outbox(outbox_path)
        outbox.open()
        try:
            await outbox.append([make_event(f"e{i}", time_ns=T0 + i) for i in range(3)])
            batch = await outbox.next_batch(1, 1 << 20)
            await outbox.settle([], [Rejection(batch[0], "bad", 400)])
            expected = await outbox.counts()
            with sqlite3.connect(outbox_path) as conn:
                conn.execute(
                    "UPDATE outbox_meta SET pending_events = 99, pending_bytes = 7,"
                    " dead_letters = 5"
                )
            outbox.repair_counts_sync()
            return expected, await outbox.counts()
        finally:
            outbox.close()

    expected, repaired = run_bounded(scenario)
    assert repaired == expected
    assert (repaired.pending_events, repaired.dead_letters) == (2, 1)


def test_a_second_handle_on_the_same_file_sees_and_replays(outbox_path, make_event, run_bounded):
    """The command line opens the file while the service runs; counters stay exact."""
    service = Outbox(outbox_path)

    async def scenario():
        service.open()
        await service.append([make_event(f"e{i}", time_ns=T0 + i) for i in range(3)])
        batch = await service.next_batch(10, 1 << 20)
        await service.settle(batch[:1], [Rejection(batch[1], "type conflict", 400)])

        async def command_line() -> tuple[OutboxStatus, list[str], int]:
            other = Outbox(outbox_path, create=False, repair_on_start=False)
            await other.start()
            try:
                status = await other.status()
                letters = [d.event.event_id for d in await other.deadletters()]
                return status, letters, await other.replay()
            finally:
                await other.stop()

        # Another process's event loop: a thread of its own here.
        result = await asyncio.to_thread(asyncio.run, command_line())
        return result, await service.counts(), await service.next_batch(10, 1 << 20)

    try:
        (status, letters, replayed), counts, entries = run_bounded(scenario)
    finally:
        service.close()
    assert (status.pending_events, status.dead_letters) == (1, 1)
    assert letters == ["e1"]
    assert replayed == 1
    assert (counts.pending_events, counts.dead_letters) == (2, 0)
    assert ids(entries) == ["e1", "e2"]


def test_concurrent_appends_share_commits(make_outbox, make_event, run_bounded):
    async def scenario():
        outbox = make_outbox()
        gate = threading.Event()
        # Hold the writer so the appends queue up and commit together.
        held = outbox._require_writer().submit(lambda conn: gate.wait(5))
        appends = [
            asyncio.ensure_future(outbox.append([make_event(f"e{i}", time_ns=T0 + i)]))
            for i in range(20)
        ]
        await asyncio.sleep(0)  # every append task runs up to its submit
        before = outbox.commits
        gate.set()
        await held
        await asyncio.gather(*appends)
        return outbox.commits - before, await outbox.counts()

    commits, counts = run_bounded(scenario)
    assert counts.pending_events == 20
    assert commits < 20


# -- dead letters --------------------------------------------------------------------------


def test_dead_letters_keep_the_event_reason_and_status(make_outbox, make_event, run_bounded, vtime):
    event = make_event("bad", fields={"n": "text"})

    async def scenario():
        outbox = make_outbox()
        await outbox.append([event])
        vtime.advance(5)
        batch = await outbox.next_batch(10, 1 << 20)
        await outbox.settle([], [Rejection(batch[0], "field type conflict: n is integer", 400)])
        return await outbox.deadletters()

    (letter,) = run_bounded(scenario)
    assert letter.event == event
    assert letter.reason == "field type conflict: n is integer"
    assert letter.status == 400
    assert letter.dead_lettered_ns - letter.accepted_ns == 5_000_000_000


@pytest.mark.parametrize(
    ("replay_ids", "replayed", "still_dead"),
    [
        (None, ["d0", "d1", "d2"], []),
        (["d1"], ["d1"], ["d0", "d2"]),
        (["d2", "d2", "unknown", "ok"], ["d2"], ["d0", "d1"]),
        ([], [], ["d0", "d1", "d2"]),
    ],
    ids=["all", "one", "repeats-unknown-and-forwarded-ignored", "none"],
)
def test_replay_makes_dead_letters_pending_again(
    make_outbox, make_event, run_bounded, replay_ids, replayed, still_dead
):
    async def scenario():
        outbox = make_outbox()
        await outbox.append(
            [make_event(f"d{i}", time_ns=T0 + i) for i in range(3)]
            + [make_event("ok", time_ns=T0 + 9)]
        )
        batch = await outbox.next_batch(10, 1 << 20)
        await outbox.settle(batch[3:], [Rejection(entry, "bad", 400) for entry in batch[:3]])
        count = await outbox.replay(replay_ids)
        return (
            count,
            await outbox.next_batch(10, 1 << 20),
            await outbox.deadletters(),
            await outbox.counts(),
        )

    count, pending, dead, counts = run_bounded(scenario)
    assert count == len(replayed)
    assert ids(pending) == replayed
    assert [d.event.event_id for d in dead] == still_dead
    assert (counts.pending_events, counts.dead_letters) == (len(replayed), len(still_dead))
    assert counts.pending_bytes == sum(entry.size for entry in pending)


def test_dead_letter_listing_is_limited_and_oldest_first(make_outbox, make_event, run_bounded):
    async def scenario():
        outbox = make_outbox()
        await outbox.append([make_event(f"d{i}", time_ns=T0 + i) for i in range(5)])
        batch = await outbox.next_batch(10, 1 << 20)
        await outbox.settle([], [Rejection(entry, "bad", None) for entry in batch])
        return await outbox.deadletters(limit=2)

    letters = run_bounded(scenario)
    assert [d.event.event_id for d in letters] == ["d0", "d1"]
    assert letters[0].status is None


# -- pruning -------------------------------------------------------------------------------


def test_prune_forgets_forwarded_ids_after_the_window_only(
    make_outbox, make_event, run_bounded, vtime
):
    async def scenario():
        outbox = make_outbox(dedupe_window_seconds=HOUR)
        await outbox.append(
            [make_event("old-fwd", time_ns=T0), make_event("old-dead", time_ns=T0 + 1)]
        )
        await outbox.append([make_event("old-pending", time_ns=T0 + 2)])
        batch = await outbox.next_batch(2, 1 << 20)
        await outbox.settle(batch[:1], [Rejection(batch[1], "bad", 400)])
        vtime.advance(HOUR - 1)
        await outbox.append([make_event("young", time_ns=T0 + 3)])
        await outbox.settle(
            [e for e in await outbox.next_batch(10, 1 << 20) if e.event.event_id == "young"]
        )
        early = await outbox.prune()
        vtime.advance(2)
        late = await outbox.prune()
        again = await outbox.append(
            [
                make_event("old-fwd", time_ns=T0),
                make_event("old-dead", time_ns=T0 + 1),
                make_event("old-pending", time_ns=T0 + 2),
                make_event("young", time_ns=T0 + 3),
            ]
        )
        return early, late, again, await outbox.next_batch(10, 1 << 20)

    early, late, again, pending = run_bounded(scenario)
    assert early == 0
    assert late == 1  # only the forwarded row older than the window
    assert again.inserted == 1
    # Accepted again past the window, with its original time (its slot was freed too).
    assert [(e.event.event_id, e.event.time_ns) for e in pending] == [
        ("old-pending", T0 + 2),
        ("old-fwd", T0),
    ]


def test_prune_deletes_large_backlogs_in_chunks(make_outbox, make_event, run_bounded, vtime):
    async def scenario():
        outbox = make_outbox(dedupe_window_seconds=1)
        for start in range(0, 25_000, 5000):
            await outbox.append(
                [make_event(f"e{i}", time_ns=T0 + i) for i in range(start, start + 5000)]
            )
            await drain_all(outbox)
        vtime.advance(2)
        return await outbox.prune(), await outbox.prune()

    assert run_bounded(scenario) == (25_000, 0)


def test_prune_of_an_empty_outbox_does_nothing(make_outbox, run_bounded):
    async def scenario():
        return await make_outbox().prune()

    assert run_bounded(scenario) == 0


# -- counts and status ----------------------------------------------------------------------


def test_counts_report_age_rate_and_errors(make_outbox, make_event, run_bounded, vtime):
    async def scenario():
        outbox = make_outbox()
        empty = await outbox.counts()
        await outbox.append([make_event("a", time_ns=T0)])
        accepted = vtime.wall_ns()
        vtime.advance(3)
        await outbox.append([make_event("b", time_ns=T0 + 1)])
        await outbox.record_error("InfluxDB at http://127.0.0.1:1 is unreachable")
        failing = await outbox.counts()
        batch = await outbox.next_batch(1, 1 << 20)
        await outbox.settle(batch)
        recovered = await outbox.counts()
        vtime.advance(61)
        later = await outbox.counts()
        return empty, accepted, failing, recovered, later

    empty, accepted, failing, recovered, later = run_bounded(scenario)
    assert empty == OutboxCounts(0, 0, None, 0, 0, None, None, None)
    assert failing.oldest_pending_accepted_ns == accepted
    assert failing.last_error == "InfluxDB at http://127.0.0.1:1 is unreachable"
    assert failing.last_error_ns == accepted + 3_000_000_000
    assert recovered.last_error is None
    assert recovered.forwarded_last_minute == 1
    assert recovered.oldest_pending_accepted_ns == accepted + 3_000_000_000
    assert later.forwarded_last_minute == 0


COUNTS = OutboxCounts(
    pending_events=10,
    pending_bytes=1000,
    oldest_pending_accepted_ns=T0,
    dead_letters=2,
    forwarded_last_minute=120,
    last_forward_ns=T0,
    last_error=None,
    last_error_ns=None,
)


@pytest.mark.parametrize(
    ("changes", "writable", "backend_ok", "state", "ready"),
    [
        ({}, True, True, "ok", True),
        ({}, True, None, "ok", True),
        ({"last_error": "down", "last_error_ns": T0}, True, None, "retrying", True),
        ({}, True, False, "retrying", True),
        ({"pending_events": 100}, True, True, "full", True),
        ({"pending_bytes": 10_000}, True, True, "full", True),
        ({"pending_events": 100}, True, False, "full", False),
        ({}, False, True, "closed", False),
    ],
    ids=[
        "healthy",
        "backend-unknown",
        "error-on-file",
        "backend-down-room-left",
        "full-by-events-but-draining",
        "full-by-bytes-but-draining",
        "full-and-backend-down",
        "closed",
    ],
)
def test_status_state_and_readiness(changes, writable, backend_ok, state, ready):
    import dataclasses  # noqa: PLC0415

    counts = dataclasses.replace(COUNTS, **changes)
    status = OutboxStatus.from_counts(
        counts,
        now_ns=T0 + 2_500_000_000,
        writable=writable,
        max_pending_events=100,
        max_pending_bytes=10_000,
        backend="influxdb",
        backend_ok=backend_ok,
    )
    assert (status.state, status.ready) == (state, ready)
    assert status.oldest_pending_age_seconds == pytest.approx(2.5)
    assert status.forward_rate_events_per_second == pytest.approx(2.0)
    assert status.as_dict()["dead_letters"] == 2


# -- reads of pending events ----------------------------------------------------------------


def test_get_pending_finds_only_pending_events(make_outbox, make_event, run_bounded):
    async def scenario():
        outbox = make_outbox()
        await outbox.append([make_event("p", time_ns=T0), make_event("f", time_ns=T0 + 1)])
        batch = await outbox.next_batch(10, 1 << 20)
        await outbox.settle(batch[1:])
        return [await outbox.get_pending(i) for i in ("p", "f", "unknown")]

    found = run_bounded(scenario)
    assert [e.event_id if e else None for e in found] == ["p", None, None]


FILTER_EVENTS = [
    ("e1", "analytics", "signup", "u1"),
    ("e2", "analytics", "login", "u1"),
    ("e3", "analytics", "signup", "u2"),
    ("e4", "other", "signup", "u1"),
    ("e5", "cpu", None, None),
    ("e6", "analytics", "signup", 7),
]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["e1", "e2", "e3", "e4", "e5", "e6"]),
        ({"event": "signup"}, ["e1", "e3", "e4", "e6"]),
        ({"uid": "u1"}, ["e1", "e2", "e4"]),
        ({"measurement": "cpu"}, ["e5"]),
        ({"event": "signup", "uid": "u1", "measurement": "analytics"}, ["e1"]),
        ({"uid": "7"}, []),
        ({"event": "x'; DROP TABLE outbox; --"}, []),
    ],
    ids=["none", "event", "uid", "measurement", "all-three", "int-uid", "injection"],
)
def test_query_pending_filters_like_a_store(
    make_outbox, make_event, run_bounded, filters, expected
):
    events = [
        make_event(event_id, time_ns=T0 + i, measurement=m, event=tag, uid=uid)
        for i, (event_id, m, tag, uid) in enumerate(FILTER_EVENTS)
    ]

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events)
        page = await outbox.query_pending(
            EventQuery(since_ns=T0, until_ns=T0 + 100, limit=100, **filters)
        )
        return page, await outbox.counts()

    page, counts = run_bounded(scenario)
    assert ids(page.events) == expected
    assert counts.pending_events == 6  # the injection attempt changed nothing


def test_query_pending_pages_by_time_then_id(make_outbox, make_event, run_bounded):
    events = [make_event(f"id-{i}", time_ns=T0 + i // 3, measurement=f"m{i % 3}") for i in range(9)]

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events)
        await outbox.append([make_event("late", time_ns=T0 + 50)])
        batch = await outbox.next_batch(1, 1 << 20)
        await outbox.settle(batch)  # forwarded: no longer pending
        pages = [await outbox.query_pending(EventQuery(since_ns=T0, until_ns=T0 + 10, limit=4))]
        while pages[-1].next_after is not None:
            pages.append(
                await outbox.query_pending(
                    EventQuery(since_ns=T0, until_ns=T0 + 10, limit=4, after=pages[-1].next_after)
                )
            )
        empty = await outbox.query_pending(EventQuery(since_ns=T0 + 5, until_ns=T0, limit=4))
        return pages, empty

    pages, empty = run_bounded(scenario)
    assert [len(p.events) for p in pages] == [4, 4]
    keys = [(e.time_ns, e.event_id) for p in pages for e in p.events]
    assert keys == sorted(keys)
    assert [k[1] for k in keys] == [f"id-{i}" for i in range(1, 9)]
    assert pages[0].next_after == keys[3]
    assert empty.events == []


def test_a_query_limit_below_one_is_refused(make_outbox, run_bounded):
    async def scenario():
        with pytest.raises(ValueError, match="limit"):
            await make_outbox().query_pending(EventQuery(since_ns=0, until_ns=1, limit=0))

    run_bounded(scenario)


def test_the_command_line_does_not_create_an_outbox_where_none_is(outbox_path):
    outbox = Outbox(outbox_path)
    with pytest.raises(FileNotFoundError, match="no outbox"):
        outbox.open(create=False)
    assert not outbox_path.exists()
    outbox.open()
    outbox.close()
    again = Outbox(outbox_path)
    again.open(create=False)
    try:
        assert again.status_sync().pending_events == 0
    finally:
        again.close()
