"""The probe's bookkeeping under a hand-driven clock: losses, lateness, shares, memory."""

from __future__ import annotations

import pytest

from stats_client.probe.tracker import Arrival, State, Tracker

WINDOWS = {"1m": 60.0, "3m": 180.0}


def _tracker(**options: float) -> Tracker:
    return Tracker("p1", WINDOWS, **{"mark_lost_after_seconds": 30.0, **options})


def _send(tracker: Tracker, seq: int, now: float, *, ok: bool = True) -> str:
    event_id = f"e{seq}"
    tracker.due(event_id, seq, now)
    if ok:
        tracker.posted(event_id)
    else:
        tracker.post_failed(event_id)
    return event_id


def test_an_event_received_in_time_is_counted_once_with_its_latency() -> None:
    tracker = _tracker()
    event_id = _send(tracker, 0, 100.0)
    arrival, sent = tracker.arrived(event_id, "p1", 100.25)
    assert arrival is Arrival.FIRST
    assert sent is not None
    assert sent.latency_seconds == pytest.approx(0.25)
    assert tracker.arrived(event_id, "p1", 101.0)[0] is Arrival.DUPLICATE
    assert tracker.counts.received == 1
    assert tracker.counts.duplicates == 1


def test_lost_is_counted_once_and_a_later_arrival_is_late_not_duplicate() -> None:
    tracker = _tracker()
    event_id = _send(tracker, 0, 0.0)
    tracker.tick(29.0)
    assert tracker.counts.lost == 0
    tracker.tick(30.0)
    tracker.tick(31.0)
    assert tracker.counts.lost == 1
    assert tracker.arrived(event_id, "p1", 40.0)[0] is Arrival.LATE
    assert tracker.counts.late == 1
    assert tracker.counts.duplicates == 0
    assert tracker.counts.received == 0


def test_out_of_order_and_other_probes_are_counted() -> None:
    tracker = _tracker()
    first, second = _send(tracker, 0, 0.0), _send(tracker, 1, 1.0)
    tracker.arrived(second, "p1", 2.0)
    tracker.arrived(first, "p1", 2.1)
    assert tracker.counts.out_of_order == 1
    assert tracker.arrived("x", "someone-else", 3.0)[0] is Arrival.UNKNOWN
    assert tracker.counts.wrong_probe == 1


def test_missing_share_rises_to_one_in_an_outage_and_falls_back_after() -> None:
    tracker = _tracker(mark_lost_after_seconds=5.0)
    now, seq = 0.0, 0
    # healthy: one event a second, all received
    for _ in range(60):
        tracker.arrived(_send(tracker, seq, now), "p1", now + 0.1)
        seq, now = seq + 1, now + 1.0
        tracker.tick(now)
    assert tracker.missing_share["1m"] == 0.0
    # total outage: every post fails
    for _ in range(70):
        _send(tracker, seq, now, ok=False)
        seq, now = seq + 1, now + 1.0
        tracker.tick(now)
    assert tracker.missing_share["1m"] == 1.0
    assert 0.0 < tracker.missing_share["3m"] < 1.0
    # recovered
    for _ in range(70):
        tracker.arrived(_send(tracker, seq, now), "p1", now + 0.1)
        seq, now = seq + 1, now + 1.0
        tracker.tick(now)
    assert tracker.missing_share["1m"] == 0.0


def test_a_silent_outage_counts_once_the_loss_timeout_passed() -> None:
    tracker = _tracker(mark_lost_after_seconds=5.0)
    for seq in range(10):
        _send(tracker, seq, float(seq))  # posted, never delivered
    tracker.tick(10.0)
    decided = [s for s in tracker if s.state is State.LOST]
    assert len(decided) == 6  # due at 0..5, five or more seconds ago
    assert tracker.missing_share["1m"] == 1.0


def test_memory_is_bounded_by_the_purge_age() -> None:
    tracker = _tracker(purge_after_seconds=100.0)
    for seq in range(1000):
        _send(tracker, seq, float(seq))
        tracker.tick(float(seq))
    assert len(tracker) <= 101
    assert tracker.counts.lost == 1000 - 30
