"""The background worker: bounded buffer, drop policies, batching, flush and close."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from stats_client import ServiceError
from stats_client._counters import Counters
from stats_client._delivery import BatchSender
from stats_client._retry import RetryPolicy
from stats_client._wire import WireItem
from stats_client._worker import Worker, drain_all_at_exit

WORKER_THREAD = "stats-client-worker"


def item(n, size=0):
    event_id = f"entry_{n:032x}"
    body = json.dumps({"event": "e", "uid": "", "event_id": event_id, "n": n, "pad": "x" * size})
    return WireItem(event_id, body.encode())


def wait_until(predicate, timeout=5.0):
    """Poll briefly for a condition another thread brings about; True when it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


@pytest.fixture
def make_worker(helpers):
    made = []

    def make(transport=None, *, on_drop=None, on_error=None, backoff_seconds=0.0, **overrides):
        transport = transport or helpers.ScriptedTransport()
        counters = Counters(on_drop=on_drop)
        sender = BatchSender(
            transport=transport,
            headers={},
            policy=RetryPolicy(
                initial_backoff_seconds=backoff_seconds, max_backoff_seconds=backoff_seconds
            ),
            counters=counters,
            gzip_min_bytes=None,
            gzip_level=1,
        )
        params = {
            "max_queue_events": 1000,
            "max_queue_bytes": 1 << 20,
            "drop_policy": "newest",
            "block_timeout_seconds": 0.05,
            "max_batch_events": 100,
            "max_batch_bytes": 1 << 20,
            "flush_interval_seconds": 1000.0,
            "exit_budget_seconds": 1.0,
            "flush_at_exit": False,
            "on_error": on_error,
        }
        params.update(overrides)
        worker = Worker(sender=sender, counters=counters, **params)
        made.append((worker, transport))
        return worker, transport

    yield make
    for worker, transport in made:
        if transport.gate is not None:
            transport.gate.set()
        worker.close(1.0)


def sent_numbers(transport):
    return [entry["n"] for entry in transport.items()]


def worker_threads():
    return [thread for thread in threading.enumerate() if thread.name == WORKER_THREAD]


def test_the_thread_starts_lazily(make_worker):
    before = len(worker_threads())
    worker, _ = make_worker()
    assert len(worker_threads()) == before
    worker.submit(item(1))
    assert len(worker_threads()) == before + 1


def test_newest_policy_drops_the_new_events(make_worker):
    drops = []
    worker, transport = make_worker(max_queue_events=3, on_drop=lambda *args: drops.append(args))
    results = [worker.submit(item(n)) for n in range(5)]
    assert results == [True, True, True, False, False]
    assert drops == [("queue_full", 1), ("queue_full", 1)]
    assert worker.flush(5)
    assert sent_numbers(transport) == [0, 1, 2]
    counters = worker.counters()
    assert (counters.enqueued, counters.sent, dict(counters.dropped)) == (3, 3, {"queue_full": 2})


def test_oldest_policy_evicts_the_old_events(make_worker):
    drops = []
    worker, transport = make_worker(
        max_queue_events=3, drop_policy="oldest", on_drop=lambda *args: drops.append(args)
    )
    assert all(worker.submit(item(n)) for n in range(5))
    assert drops == [("queue_full", 1), ("queue_full", 1)]
    assert worker.flush(5)
    assert sent_numbers(transport) == [2, 3, 4]


def test_the_buffer_is_bounded_by_bytes_too(make_worker):
    size = len(item(0, size=100).body)
    worker, transport = make_worker(max_queue_bytes=2 * size + size // 2)
    results = [worker.submit(item(n, size=100)) for n in range(4)]
    assert results == [True, True, False, False]
    assert worker.flush(5)
    assert sent_numbers(transport) == [0, 1]


def test_block_policy_waits_for_room(make_worker, helpers):
    transport = helpers.ScriptedTransport()
    transport.gate = threading.Event()
    worker, _ = make_worker(
        transport,
        max_queue_events=2,
        max_batch_events=1,
        flush_interval_seconds=0.0,
        drop_policy="block",
        block_timeout_seconds=30.0,
    )
    assert worker.submit(item(0))
    assert wait_until(lambda: worker.counters().in_flight == 1)
    assert worker.submit(item(1))
    assert worker.submit(item(2))
    results = []
    blocked = threading.Thread(target=lambda: results.append(worker.submit(item(3))))
    blocked.start()
    assert wait_until(lambda: worker._blocked == 1)
    assert results == []
    transport.gate.set()
    blocked.join(10)
    assert results == [True]
    assert worker.flush(5)
    assert sorted(sent_numbers(transport)) == [0, 1, 2, 3]


def test_block_policy_gives_up_after_its_timeout(make_worker):
    drops = []
    worker, _ = make_worker(
        max_queue_events=1,
        drop_policy="block",
        block_timeout_seconds=0.02,
        on_drop=lambda *args: drops.append(args),
    )
    assert worker.submit(item(0))
    assert worker.submit(item(1)) is False
    assert drops == [("queue_full", 1)]


def test_batches_are_cut_by_count(make_worker):
    worker, transport = make_worker(max_batch_events=10)
    for n in range(25):
        worker.submit(item(n))
    assert worker.flush(5)
    sizes = [len(_decode(request)) for request in transport.requests]
    assert sizes == [10, 10, 5]
    assert sent_numbers(transport) == list(range(25))


def test_batches_are_cut_by_bytes(make_worker):
    worker, transport = make_worker(max_batch_bytes=400)
    for n in range(6):
        worker.submit(item(n, size=100))
    assert worker.flush(5)
    sizes = [len(_decode(request)) for request in transport.requests]
    assert sizes == [2, 2, 2]
    assert all(len(request.body) <= 400 for request in transport.requests)


def _decode(request):
    return json.loads(request.body)


def test_the_interval_sends_without_a_flush(make_worker):
    worker, transport = make_worker(flush_interval_seconds=0.01)
    worker.submit(item(1))
    assert wait_until(lambda: sent_numbers(transport) == [1])


def test_a_full_batch_sends_without_waiting_for_the_interval(make_worker):
    worker, transport = make_worker(max_batch_events=5, flush_interval_seconds=1000.0)
    for n in range(5):
        worker.submit(item(n))
    assert wait_until(lambda: len(sent_numbers(transport)) == 5)


def test_flush_returns_false_on_timeout_then_true(make_worker, helpers):
    transport = helpers.ScriptedTransport()
    transport.gate = threading.Event()
    worker, _ = make_worker(transport)
    worker.submit(item(1))
    assert worker.flush(0.05) is False
    transport.gate.set()
    assert worker.flush(5) is True
    assert worker.counters().sent == 1


def test_flush_with_nothing_logged_is_true_at_once(make_worker):
    worker, _ = make_worker()
    assert worker.flush(0) is True


def test_flush_from_other_threads(make_worker):
    worker, transport = make_worker()
    results = []

    def log_and_flush(base):
        for n in range(base, base + 50):
            worker.submit(item(n))
        results.append(worker.flush(10))

    threads = [threading.Thread(target=log_and_flush, args=(base,)) for base in (0, 100, 200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert results == [True, True, True]
    assert sorted(sent_numbers(transport)) == [*range(50), *range(100, 150), *range(200, 250)]


def test_flush_from_inside_the_error_callback_does_not_deadlock(make_worker, helpers):
    results = []
    holder = {}

    def on_error(error):
        holder["thread"] = threading.current_thread().name
        results.append(holder["worker"].flush(5))

    transport = helpers.ScriptedTransport(helpers.status(400))
    worker, _ = make_worker(transport, on_error=on_error, max_batch_events=1)
    holder["worker"] = worker
    for n in range(4):
        worker.submit(item(n))
    assert worker.flush(10)
    assert holder["thread"] == WORKER_THREAD
    assert results == [True]
    assert sent_numbers(transport) == [0, 1, 2, 3]
    assert worker.counters().sent == 3


def test_flush_from_inside_the_drop_callback(make_worker):
    results = []
    holder = {}
    worker, transport = make_worker(
        max_queue_events=1, on_drop=lambda *args: results.append(holder["worker"].flush(5))
    )
    holder["worker"] = worker
    worker.submit(item(0))
    worker.submit(item(1))
    assert results == [True]
    assert sent_numbers(transport) == [0]


def test_errors_reach_on_error_and_callback_failures_are_contained(make_worker, helpers, caplog):
    errors = []

    def on_error(error):
        errors.append(error)
        raise RuntimeError("broken callback")

    transport = helpers.ScriptedTransport(helpers.status(422))
    worker, _ = make_worker(transport, on_error=on_error)
    worker.submit(item(1))
    with caplog.at_level(logging.ERROR, logger="stats_client"):
        assert worker.flush(5)
    [error] = errors
    assert isinstance(error, ServiceError)
    assert error.status == 422
    assert "broken callback" in caplog.text
    worker.submit(item(2))
    assert worker.flush(5)
    assert worker.counters().sent == 1


def test_an_unexpected_error_in_sending_never_kills_the_thread(make_worker, helpers):
    transport = helpers.ScriptedTransport(RuntimeError("bug"))
    worker, _ = make_worker(transport)
    worker.submit(item(1))
    assert worker.flush(5)
    worker.submit(item(2))
    assert worker.flush(5)
    counters = worker.counters()
    assert (counters.sent, dict(counters.dropped)) == (1, {"internal": 1})


def test_close_delivers_then_stops_the_thread(make_worker):
    drops = []
    worker, transport = make_worker(on_drop=lambda *args: drops.append(args))
    for n in range(3):
        worker.submit(item(n))
    thread = worker._thread
    assert worker.close(5) is True
    assert not thread.is_alive()
    assert sent_numbers(transport) == [0, 1, 2]
    assert worker.submit(item(9)) is False
    assert drops == [("closed", 1)]
    assert worker.close(5) is True


def test_close_timeout_counts_what_is_left_and_warns_once(make_worker, helpers, caplog):
    transport = helpers.ScriptedTransport()
    transport.gate = threading.Event()
    worker, _ = make_worker(transport, max_batch_events=2)
    for n in range(5):
        worker.submit(item(n))
    assert wait_until(lambda: worker.counters().in_flight == 2)
    with caplog.at_level(logging.WARNING, logger="stats_client"):
        assert worker.close(0.05) is False
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "5 events" in warnings[0].getMessage()
    assert dict(worker.counters().dropped) == {"shutdown": 5}
    transport.gate.set()


def test_kill_drops_everything_buffered(make_worker):
    worker, transport = make_worker()
    for n in range(3):
        worker.submit(item(n))
    worker.kill()
    assert worker.counters().dropped["shutdown"] == 3
    assert transport.requests == []


def test_without_a_thread_flush_sends_inline(make_worker, monkeypatch):
    def refuse(self):
        raise RuntimeError("can't create new thread at interpreter shutdown")

    worker, transport = make_worker()
    with monkeypatch.context() as patch:
        patch.setattr(threading.Thread, "start", refuse)
        assert worker.submit(item(1))
    assert worker._thread is None
    assert worker.flush(5)
    assert sent_numbers(transport) == [1]


def test_drain_at_exit_closes_workers_that_asked_for_it(make_worker):
    draining, transport = make_worker(flush_at_exit=True)
    keeping, _ = make_worker(flush_at_exit=False)
    draining.submit(item(1))
    drain_all_at_exit()
    assert draining.closed
    assert not keeping.closed
    assert sent_numbers(transport) == [1]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_thread_killed_by_a_callback_is_replaced_on_the_next_submit(make_worker, helpers):
    def on_error(error):
        raise SystemExit("a callback that exits its thread")

    transport = helpers.ScriptedTransport(helpers.status(400))
    worker, _ = make_worker(transport, on_error=on_error, flush_interval_seconds=0.0)
    worker.submit(item(1))
    first = worker._thread
    first.join(10)
    assert not first.is_alive()
    assert wait_until(lambda: worker._thread is None)
    worker.submit(item(2))
    assert worker._thread is not None
    assert worker._thread is not first
    assert worker.flush(5)
    assert sent_numbers(transport) == [1, 2]


def test_an_inline_drain_that_runs_out_of_time_keeps_the_rest_for_close(
    make_worker, helpers, monkeypatch
):
    def refuse(self):
        raise RuntimeError("can't create new thread at interpreter shutdown")

    transport = helpers.ScriptedTransport(*[helpers.network_error()] * 1000)
    worker, _ = make_worker(transport, max_batch_events=2, backoff_seconds=0.01)
    with monkeypatch.context() as patch:
        patch.setattr(threading.Thread, "start", refuse)
        for n in range(5):
            assert worker.submit(item(n))
    assert worker.flush(0.05) is False
    assert worker.counters().queue_depth == 5
    assert worker.close(0) is False
    assert worker.counters().dropped == {"shutdown": 5}
