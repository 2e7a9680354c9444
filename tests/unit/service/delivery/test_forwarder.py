"""The forwarder: batches, outcomes of a backend write, splitting, backoff, lingering, stop.

The backend is an in-memory InfluxDB look-alike with scripted failures; time
is virtual, so backoff waits are checked exactly and nothing really sleeps.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from stats_service.delivery.backoff import Backoff
from stats_service.delivery.config import DeliveryConfig
from stats_service.delivery.forwarder import Forwarder, ForwardOutcome
from stats_service.errors import ServiceUnavailable

T0 = 1_700_000_000_000_000_000
POLL = 1000.0  # an idle wait that stands out among the recorded sleeps
BACKOFF = Backoff(initial_seconds=0.5, multiplier=2.0, max_seconds=4.0, jitter=0.5)
DRAW = 0.25  # the "random" draw: every wait is 7/8 of its ceiling


def config(**changes) -> DeliveryConfig:
    values = {
        "batch_max_events": 100,
        "linger_seconds": 0.0,
        "poll_interval_seconds": POLL,
        "prune_interval_seconds": 10_000.0,
        "close_timeout_seconds": 5.0,
        "backoff": BACKOFF,
    }
    values.update(changes)
    return DeliveryConfig(**values)


@pytest.fixture
def make_forwarder(backend, vtime):
    def build(outbox, **changes) -> Forwarder:
        return Forwarder(
            outbox,
            backend,
            config=config(**changes),
            monotonic=vtime.monotonic,
            sleep=vtime.sleep,
            random=lambda: DRAW,
        )

    return build


def events(make_event, count, prefix="e", **kwargs):
    return [make_event(f"{prefix}{i:03d}", time_ns=T0 + i, **kwargs) for i in range(count)]


# -- one step: forward_batch ---------------------------------------------------------------


def test_a_batch_is_written_whole_and_marked_forwarded(
    make_outbox, make_forwarder, backend, make_event, run_bounded
):
    batch = events(make_event, 10)

    async def scenario():
        outbox = make_outbox()
        await outbox.append(batch)
        forwarder = make_forwarder(outbox)
        outcome = await forwarder.forward_batch()
        return outcome, await forwarder.forward_batch(), await outbox.counts(), forwarder

    outcome, nothing, counts, forwarder = run_bounded(scenario)
    assert outcome == ForwardOutcome(forwarded=10, dead_lettered=0, requests=1)
    assert nothing is None
    assert backend.calls == [[e.event_id for e in batch]]
    assert sorted(backend.events(), key=lambda e: e.event_id) == batch
    assert counts.pending_events == 0
    assert forwarder.backend_ok is True


def test_batches_respect_the_event_bound_in_order(
    make_outbox, make_forwarder, backend, make_event, run_bounded
):
    async def scenario():
        outbox = make_outbox()
        await outbox.append(events(make_event, 25))
        forwarder = make_forwarder(outbox, batch_max_events=10)
        while await forwarder.forward_batch() is not None:
            pass

    run_bounded(scenario)
    assert [len(call) for call in backend.calls] == [10, 10, 5]
    assert [i for call in backend.calls for i in call] == [f"e{i:03d}" for i in range(25)]


def test_an_unavailable_backend_leaves_the_batch_pending(
    make_outbox, make_forwarder, backend, make_event, run_bounded
):
    backend.unavailable = 1
    backend.retry_after_seconds = 7

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events(make_event, 3))
        forwarder = make_forwarder(outbox)
        with pytest.raises(ServiceUnavailable) as caught:
            await forwarder.forward_batch()
        pending = await outbox.counts()
        retried = await forwarder.forward_batch()
        return caught.value, pending, retried

    error, pending, retried = run_bounded(scenario)
    assert error.retry_after_seconds == 7
    assert pending.pending_events == 3
    assert retried.forwarded == 3
    assert backend.stored_ids() == ["e000", "e001", "e002"]


def test_rejected_points_are_dead_lettered_and_the_rest_forwarded(
    make_outbox, make_forwarder, backend, make_event, run_bounded
):
    backend.rejected = {"e003": 'field type conflict: input field "n" is type string'}

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events(make_event, 6))
        outcome = await make_forwarder(outbox).forward_batch()
        return outcome, await outbox.deadletters(), await outbox.counts()

    outcome, letters, counts = run_bounded(scenario)
    assert outcome == ForwardOutcome(forwarded=5, dead_lettered=1, requests=1)
    assert [d.event.event_id for d in letters] == ["e003"]
    assert letters[0].status == 400
    assert "field type conflict" in letters[0].reason
    assert backend.stored_ids() == ["e000", "e001", "e002", "e004", "e005"]
    assert (counts.pending_events, counts.dead_letters) == (0, 1)


@pytest.mark.parametrize("bad", [["e000"], ["e007"], ["e002", "e005"], []], ids=str)
def test_unexplained_rejections_are_bisected_down_to_the_bad_points(
    make_outbox, make_forwarder, backend, make_event, run_bounded, bad
):
    backend.rejected = dict.fromkeys(bad, "partial write: something")
    backend.report_rejected_ids = False

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events(make_event, 8))
        outcome = await make_forwarder(outbox).forward_batch()
        return outcome, await outbox.deadletters()

    outcome, letters = run_bounded(scenario)
    assert sorted(d.event.event_id for d in letters) == bad
    assert outcome.forwarded == 8 - len(bad)
    assert backend.stored_ids() == [f"e{i:03d}" for i in range(8) if f"e{i:03d}" not in bad]
    if bad:
        assert 1 < outcome.requests <= 1 + 2 * 3 * len(bad)  # log2(8) levels per bad point


def test_a_body_too_large_splits_the_batch_until_it_fits(
    make_outbox, make_forwarder, backend, make_event, run_bounded
):
    backend.max_batch = 3

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events(make_event, 10))
        return await make_forwarder(outbox).forward_batch()

    outcome = run_bounded(scenario)
    assert outcome.forwarded == 10
    assert outcome.dead_lettered == 0
    # 10 -> 5 + 5 -> (2 + 3) + (2 + 3): halves until each write fits.
    assert [len(call) for call in backend.calls] == [10, 5, 2, 3, 5, 2, 3]
    assert len(backend.stored_ids()) == 10


def test_a_single_event_too_large_is_dead_lettered(
    make_outbox, make_forwarder, backend, make_event, run_bounded
):
    backend.max_batch = 0

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events(make_event, 2))
        outcome = await make_forwarder(outbox).forward_batch()
        return outcome, await outbox.deadletters()

    outcome, letters = run_bounded(scenario)
    assert outcome.dead_lettered == 2
    assert {d.status for d in letters} == {413}


def test_an_event_the_encoder_refuses_is_dead_lettered_alone(
    make_outbox, make_forwarder, backend, make_event, run_bounded
):
    backend.refused = {"e004"}

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events(make_event, 9))
        outcome = await make_forwarder(outbox).forward_batch()
        return outcome, await outbox.deadletters()

    outcome, (letter,) = run_bounded(scenario)
    assert letter.event.event_id == "e004"
    assert letter.status is None
    assert "cannot be written" in letter.reason
    assert outcome.forwarded == 8
    assert "e004" not in backend.stored_ids()


def test_an_outage_during_bisection_keeps_what_is_known_and_the_rest_pending(
    make_outbox, make_forwarder, backend, make_event, run_bounded
):
    backend.rejected = {"e000": "partial write: bad"}
    backend.report_rejected_ids = False

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events(make_event, 8))
        forwarder = make_forwarder(outbox)
        original_write = backend.write
        writes = 0

        async def write_then_fail(batch):
            nonlocal writes
            writes += 1
            if writes == 5:  # in the middle of the bisection
                backend.unavailable = 1
            await original_write(batch)

        backend.write = write_then_fail
        with pytest.raises(ServiceUnavailable):
            await forwarder.forward_batch()
        middle = await outbox.counts(), await outbox.deadletters()
        backend.write = original_write
        while await forwarder.forward_batch() is not None:
            pass
        return middle, await outbox.counts(), await outbox.deadletters()

    (middle_counts, middle_letters), counts, letters = run_bounded(scenario)
    assert [d.event.event_id for d in middle_letters] == ["e000"]
    assert 0 < middle_counts.pending_events < 8
    assert counts.pending_events == 0
    assert [d.event.event_id for d in letters] == ["e000"]
    assert backend.stored_ids() == [f"e{i:03d}" for i in range(1, 8)]


def test_an_unexpected_error_is_retried_not_dropped(
    make_outbox, make_forwarder, backend, make_event, run_bounded
):
    backend.broken = RuntimeError("surprise")

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events(make_event, 2))
        forwarder = make_forwarder(outbox)
        with pytest.raises(ServiceUnavailable, match="RuntimeError: surprise"):
            await forwarder.forward_batch()
        backend.broken = None
        return await forwarder.forward_batch(), await outbox.deadletters()

    outcome, letters = run_bounded(scenario)
    assert outcome.forwarded == 2
    assert letters == []


# -- the loop ------------------------------------------------------------------------------


def test_the_loop_backs_off_then_delivers_everything(
    make_outbox, make_forwarder, backend, make_event, run_bounded, vtime, eventually
):
    backend.unavailable = 6
    backend.retry_after_seconds = 0  # no Retry-After: the policy alone decides

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events(make_event, 5))
        forwarder = make_forwarder(outbox)
        forwarder.start(pending_events=5)

        async def delivered():
            return (await outbox.counts()).pending_events == 0

        await eventually(delivered, vtime=vtime, what="delivery")
        status = forwarder.retrying, forwarder.last_error, (await outbox.counts()).last_error
        await forwarder.stop()
        return status

    retrying, last_error, stored_error = run_bounded(scenario)
    backoffs = [s for s in vtime.requested if s != POLL]
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoffs == pytest.approx([c * (1 - 0.5 * DRAW) for c in ceilings])
    assert backend.stored_ids() == [f"e{i:03d}" for i in range(5)]
    assert (retrying, last_error, stored_error) == (False, None, None)


def test_the_loop_honours_retry_after(
    make_outbox, make_forwarder, backend, make_event, run_bounded, vtime, eventually
):
    backend.unavailable = 2
    backend.retry_after_seconds = 30

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events(make_event, 1))
        forwarder = make_forwarder(outbox)
        forwarder.start(pending_events=1)

        async def delivered():
            return (await outbox.counts()).pending_events == 0

        await eventually(delivered, vtime=vtime, step_seconds=5, what="delivery")
        await forwarder.stop()

    run_bounded(scenario)
    assert [s for s in vtime.requested if s != POLL] == [30, 30]


def test_failures_are_visible_while_they_last(
    make_outbox, make_forwarder, backend, make_event, run_bounded, vtime, eventually
):
    backend.unavailable = 1_000_000

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events(make_event, 1))
        forwarder = make_forwarder(outbox)
        forwarder.start(pending_events=1)

        async def failed_twice():
            return len(backend.calls) >= 2

        await eventually(failed_twice, vtime=vtime, what="two attempts")
        seen = (
            forwarder.retrying,
            forwarder.backend_ok,
            forwarder.last_error,
            forwarder.next_retry_seconds,
            await outbox.status(backend_ok=forwarder.backend_ok),
        )
        await forwarder.stop()
        return seen

    retrying, backend_ok, last_error, next_retry, status = run_bounded(scenario)
    assert retrying is True
    assert backend_ok is False
    assert "503" in last_error
    assert next_retry > 0
    assert status.state == "retrying"
    assert status.last_error == last_error
    assert status.pending_events == 1


def test_a_backend_that_failed_to_open_is_opened_before_writing(
    make_outbox, backend, make_event, run_bounded, vtime, eventually
):
    backend.open_failures = 2

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events(make_event, 2))
        forwarder = Forwarder(
            outbox,
            backend,
            config=config(),
            backend_open=False,
            monotonic=vtime.monotonic,
            sleep=vtime.sleep,
            random=lambda: DRAW,
        )
        forwarder.start(pending_events=2)

        async def delivered():
            return (await outbox.counts()).pending_events == 0

        await eventually(delivered, vtime=vtime, what="delivery")
        await forwarder.stop()

    run_bounded(scenario)
    assert backend.opened == 1
    assert backend.stored_ids() == ["e000", "e001"]


def test_notify_wakes_an_idle_forwarder(
    make_outbox, make_forwarder, backend, make_event, run_bounded, eventually
):
    async def scenario():
        outbox = make_outbox()
        forwarder = make_forwarder(outbox)
        forwarder.start()
        await asyncio.sleep(0.01)  # let it find nothing and go idle (virtual time stands still)
        appended = await outbox.append(events(make_event, 3))
        forwarder.notify(appended.pending_events)

        async def delivered():
            return len(backend.stored_ids()) == 3

        await eventually(delivered, what="delivery without advancing time")
        await forwarder.stop()

    run_bounded(scenario)


def test_a_small_batch_lingers_and_a_full_one_goes_at_once(
    make_outbox, make_forwarder, backend, make_event, run_bounded, vtime, eventually
):
    async def scenario():
        outbox = make_outbox()
        forwarder = make_forwarder(outbox, linger_seconds=2.0, batch_max_events=10)
        forwarder.start()
        await asyncio.sleep(0.01)
        appended = await outbox.append(events(make_event, 4, prefix="small"))
        forwarder.notify(appended.pending_events)
        for _ in range(20):  # real time passes, virtual time does not: it keeps lingering
            await asyncio.sleep(0.001)
        lingering = list(backend.calls)
        appended = await outbox.append(events(make_event, 6, prefix="fill", event="other"))
        forwarder.notify(appended.pending_events)

        async def sent():
            return len(backend.calls) == 1

        await eventually(sent, what="the full batch")
        await forwarder.stop()
        return lingering

    lingering = run_bounded(scenario)
    assert lingering == []
    assert [len(call) for call in backend.calls] == [10]
    assert 2.0 in vtime.requested


def test_stop_during_backoff_returns_at_once_and_keeps_the_events(
    make_outbox, make_forwarder, backend, make_event, run_bounded, eventually
):
    backend.unavailable = 1_000_000

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events(make_event, 2))
        forwarder = make_forwarder(outbox)
        forwarder.start(pending_events=2)

        async def tried():
            return bool(backend.calls)

        await eventually(tried, what="a first attempt")
        clean = await forwarder.stop()
        return clean, forwarder.running, await outbox.counts()

    clean, running, counts = run_bounded(scenario)
    assert clean is True
    assert running is False
    assert counts.pending_events == 2


def test_stop_finishes_the_batch_in_flight(
    make_outbox, make_forwarder, backend, make_event, run_bounded
):
    backend.gate = asyncio.Event()

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events(make_event, 3))
        forwarder = make_forwarder(outbox)
        forwarder.start(pending_events=3)
        await asyncio.wait_for(backend.entered.wait(), 5)
        stopping = asyncio.ensure_future(forwarder.stop())
        await asyncio.sleep(0.01)
        waited = not stopping.done()
        backend.gate.set()
        clean = await stopping
        return waited, clean, await outbox.counts()

    waited, clean, counts = run_bounded(scenario)
    assert waited is True
    assert clean is True
    assert counts.pending_events == 0
    assert backend.stored_ids() == ["e000", "e001", "e002"]


def test_stop_abandons_a_batch_stuck_past_the_timeout(
    make_outbox, make_forwarder, backend, make_event, run_bounded
):
    backend.gate = asyncio.Event()  # never opened

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events(make_event, 2))
        forwarder = make_forwarder(outbox, close_timeout_seconds=0.05)
        forwarder.start(pending_events=2)
        await asyncio.wait_for(backend.entered.wait(), 5)
        clean = await forwarder.stop()
        return clean, forwarder.running, await outbox.counts()

    clean, running, counts = run_bounded(scenario)
    assert clean is False
    assert running is False
    assert counts.pending_events == 2


def test_the_loop_prunes_old_forwarded_rows(
    make_outbox, make_forwarder, backend, make_event, run_bounded, vtime, eventually
):
    async def scenario():
        outbox = make_outbox(dedupe_window_seconds=10)
        await outbox.append(events(make_event, 3))
        forwarder = make_forwarder(outbox, prune_interval_seconds=5, poll_interval_seconds=2)
        forwarder.start(pending_events=3)

        async def forgotten():
            with sqlite3.connect(outbox.path) as conn:
                (rows,) = conn.execute("SELECT count(*) FROM outbox").fetchone()
            return rows == 0

        await eventually(forgotten, vtime=vtime, step_seconds=1, what="pruning")
        await forwarder.stop()
        # Forgotten ids are accepted again.
        return vtime.now, await outbox.append(events(make_event, 3))

    now, appended = run_bounded(scenario)
    assert now > 10
    assert appended.inserted == 3


def test_the_loop_reads_ahead_yet_delivers_in_order_exactly_once(
    make_outbox, make_forwarder, backend, make_event, run_bounded, eventually
):
    async def scenario():
        outbox = make_outbox()
        await outbox.append(events(make_event, 45))
        forwarder = make_forwarder(outbox, batch_max_events=10)
        forwarder.start(pending_events=45)

        async def delivered():
            return (await outbox.counts()).pending_events == 0

        await eventually(delivered, what="delivery")
        await forwarder.stop()

    run_bounded(scenario)
    assert [len(call) for call in backend.calls] == [10, 10, 10, 10, 5]
    assert [i for call in backend.calls for i in call] == [f"e{i:03d}" for i in range(45)]


def test_a_replayed_dead_letter_behind_the_read_cursor_is_still_delivered(
    make_outbox, make_forwarder, backend, make_event, run_bounded, eventually
):
    backend.rejected = {"e001": "field type conflict"}

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events(make_event, 30))
        forwarder = make_forwarder(outbox, batch_max_events=10)
        forwarder.start(pending_events=30)

        async def dead_lettered():
            return (await outbox.counts()).dead_letters == 1

        await eventually(dead_lettered, what="the dead letter")
        backend.rejected = {}
        assert await outbox.replay() == 1
        forwarder.notify((await outbox.counts()).pending_events)

        async def all_stored():
            return len(backend.stored_ids()) == 30

        await eventually(all_stored, what="delivery of the replayed event")
        await forwarder.stop()
        return await outbox.counts()

    counts = run_bounded(scenario)
    assert (counts.pending_events, counts.dead_letters) == (0, 0)


class RecordingMetrics:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def forwarded(self, count: int, seconds: float) -> None:
        self.calls.append(("forwarded", count))
        assert seconds >= 0

    def forward_error(self, kind: str) -> None:
        self.calls.append(("forward_error", kind))

    def dead_lettered(self, count: int) -> None:
        self.calls.append(("dead_lettered", count))


def test_outcomes_are_counted_for_metrics(make_outbox, backend, make_event, run_bounded, vtime):
    metrics = RecordingMetrics()
    backend.unavailable = 1
    backend.rejected = {"e002": "field type conflict"}

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events(make_event, 4))
        forwarder = Forwarder(
            outbox, backend, config=config(), metrics=metrics, monotonic=vtime.monotonic
        )
        with pytest.raises(ServiceUnavailable):
            await forwarder.forward_batch()
        await forwarder.forward_batch()

    run_bounded(scenario)
    assert metrics.calls == [
        ("forward_error", "unavailable"),
        ("forward_error", "rejected"),
        ("forwarded", 3),
        ("dead_lettered", 1),
    ]
