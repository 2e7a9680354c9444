"""Counters: tallies by reason, the on_drop callback, and at most one drop log a minute."""

from __future__ import annotations

import logging
import threading

import pytest

from stats_client import DropReason
from stats_client._counters import Counters, call_safely


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def drop_logs(caplog):
    return [r.getMessage() for r in caplog.records if "stats-client dropped" in r.getMessage()]


def test_drops_are_counted_by_reason_and_told_to_on_drop():
    calls = []
    counters = Counters(on_drop=lambda *args: calls.append(args))
    counters.drop(DropReason.QUEUE_FULL, 2)
    counters.drop(DropReason.INVALID, 1)
    counters.drop(DropReason.QUEUE_FULL, 3)
    counters.drop(DropReason.REJECTED, 0)
    snapshot = counters.snapshot(enqueued=10, queue_depth=4, in_flight=1)
    assert dict(snapshot.dropped) == {"queue_full": 5, "invalid": 1}
    assert snapshot.dropped_total == 6
    assert (snapshot.enqueued, snapshot.queue_depth, snapshot.in_flight) == (10, 4, 1)
    assert calls == [("queue_full", 2), ("invalid", 1), ("queue_full", 3)]


def test_drops_are_logged_at_most_once_a_minute(caplog):
    clock = Clock()
    counters = Counters(monotonic=clock)
    with caplog.at_level(logging.WARNING, logger="stats_client"):
        counters.drop(DropReason.QUEUE_FULL, 1)
        clock.now = 30.0
        counters.drop(DropReason.QUEUE_FULL, 4)
        counters.drop(DropReason.INVALID, 2)
        clock.now = 61.0
        counters.drop(DropReason.QUEUE_FULL, 1)
    logged = drop_logs(caplog)
    assert len(logged) == 2
    assert "1 queue_full" in logged[0]
    # The second line sums everything since the first.
    assert "2 invalid" in logged[1]
    assert "5 queue_full" in logged[1]


def test_a_drop_without_logging_is_still_counted(caplog):
    counters = Counters()
    with caplog.at_level(logging.WARNING, logger="stats_client"):
        counters.drop(DropReason.SHUTDOWN, 3, log=False)
    assert drop_logs(caplog) == []
    assert counters.snapshot(enqueued=0, queue_depth=0, in_flight=0).dropped == {"shutdown": 3}


def test_sent_retried_and_sync_enqueued():
    counters = Counters()
    counters.add_sent(5)
    counters.add_retried()
    counters.add_retried(2)
    counters.add_enqueued(7)
    snapshot = counters.snapshot(enqueued=1, queue_depth=0, in_flight=0)
    assert (snapshot.sent, snapshot.retried, snapshot.enqueued) == (5, 3, 8)


def test_a_failing_callback_is_logged_once(caplog):
    calls = []

    def broken(*args):
        calls.append(args)
        raise ValueError("nope")

    with caplog.at_level(logging.ERROR, logger="stats_client"):
        call_safely(broken, 1)
        call_safely(broken, 2)
    assert calls == [(1,), (2,)]
    assert len([r for r in caplog.records if "raised" in r.getMessage()]) == 1


def test_call_safely_ignores_none():
    call_safely(None, 1)


def test_snapshot_dropped_is_read_only():
    counters = Counters()
    counters.drop(DropReason.INVALID, 1)
    snapshot = counters.snapshot(enqueued=0, queue_depth=0, in_flight=0)
    with pytest.raises(TypeError):
        snapshot.dropped["invalid"] = 0  # type: ignore[index]


def test_each_warning_gives_the_count_since_the_last_one_and_the_total(caplog):
    clock = Clock()
    counters = Counters(monotonic=clock)
    with caplog.at_level(logging.WARNING, logger="stats_client"):
        for _ in range(637):  # a burst: only the first drop is logged at once
            counters.drop(DropReason.QUEUE_FULL, 1)
        clock.now = 61.0
        counters.drop(DropReason.INVALID, 1)
    first, second = drop_logs(caplog)
    assert "dropped 1 event(s) since the last warning (1 queue_full)" in first
    assert "1 in total" in first
    assert "dropped 637 event(s) since the last warning (1 invalid, 636 queue_full)" in second
    assert "638 in total (1 invalid, 637 queue_full)" in second


def test_drops_not_yet_warned_about_are_reported_on_request(caplog):
    clock = Clock()
    counters = Counters(monotonic=clock)
    with caplog.at_level(logging.WARNING, logger="stats_client"):
        for _ in range(637):
            counters.drop(DropReason.QUEUE_FULL, 1)
        counters.report_unlogged()
        counters.report_unlogged()  # nothing new: no second line
    first, last = drop_logs(caplog)
    assert "dropped 1 event(s)" in first
    assert "dropped 636 event(s) since the last warning (636 queue_full)" in last
    assert "637 in total" in last


def test_close_reports_the_drops_not_yet_warned_about(caplog, make_client, helpers):
    transport = helpers.ScriptedTransport()
    transport.gate = threading.Event()  # hold the first batch in flight: the buffer fills
    client = make_client(transport=transport, max_queue_events=1, max_batch_events=1)
    with caplog.at_level(logging.WARNING, logger="stats_client"):
        for _ in range(50):
            client.log({"event": "e", "uid": "u"})
        transport.gate.set()
        client.close(timeout=5)
    dropped = client.counters().dropped.get("queue_full", 0)
    assert dropped > 1
    assert f"{dropped} in total" in drop_logs(caplog)[-1]
