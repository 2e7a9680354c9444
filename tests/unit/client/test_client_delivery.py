"""BatchSender: every retry rule, 413 splitting, rejected items, deadlines."""

from __future__ import annotations

import email.utils
import itertools

import pytest

from stats_client import (
    AuthenticationError,
    EventRejectedError,
    PayloadTooLargeError,
    Response,
    ServiceError,
    TransportError,
)
from stats_client._counters import Counters
from stats_client._delivery import BatchSender
from stats_client._retry import RetryPolicy
from stats_client._wire import EventEncoder

NOW = 1_700_000_000.0


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self):
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds
        return True


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def counters():
    return Counters()


@pytest.fixture
def make_sender(clock, counters):
    def make(transport, *, max_retries=None, gzip_min_bytes=None):
        return BatchSender(
            transport=transport,
            headers={"Authorization": "Token t", "Accept": "application/json"},
            policy=RetryPolicy(
                initial_backoff_seconds=1.0, max_backoff_seconds=8.0, max_retries=max_retries
            ),
            counters=counters,
            gzip_min_bytes=gzip_min_bytes,
            gzip_level=1,
            random_fraction=lambda: 1.0,
            wall_clock=lambda: NOW,
            monotonic=clock.monotonic,
        )

    return make


def make_items(count, uid="u"):
    ids = itertools.count(1)
    encoder = EventEncoder(
        tags={},
        clock_ns=lambda: 0,
        id_factory=lambda: f"entry_{next(ids):032x}",
        max_event_bytes=65_536,
    )
    return [encoder.event({"event": "e", "uid": uid, "n": n}) for n in range(count)]


def deliver(sender, items, clock, **kwargs):
    return sender.deliver(items, sleep=clock.sleep, **kwargs)


def test_success_on_first_try(helpers, make_sender, clock, counters):
    transport = helpers.ScriptedTransport()
    items = make_items(3)
    outcome = deliver(make_sender(transport), items, clock)
    assert outcome.ids == [item.event_id for item in items]
    assert outcome.errors == []
    assert outcome.unfinished == []
    assert len(transport.requests) == 1
    request = transport.requests[0]
    assert (request.method, request.path) == ("POST", "/log/events")
    assert request.headers["Authorization"] == "Token t"
    assert request.headers["Content-Type"] == "application/json"
    assert "Content-Encoding" not in request.headers
    snapshot = counters.snapshot(enqueued=0, queue_depth=0, in_flight=0)
    assert (snapshot.sent, snapshot.retried, snapshot.dropped_total) == (3, 0, 0)
    assert clock.sleeps == []


def test_large_bodies_are_gzipped(helpers, make_sender, clock):
    transport = helpers.ScriptedTransport()
    deliver(make_sender(transport, gzip_min_bytes=100), make_items(10), clock)
    request = transport.requests[0]
    assert request.headers["Content-Encoding"] == "gzip"
    assert len(helpers.decode_request(request)) == 10


def test_network_error_is_retried_with_the_same_bytes(helpers, make_sender, clock, counters):
    transport = helpers.ScriptedTransport(helpers.network_error(), helpers.network_error())
    items = make_items(2)
    outcome = deliver(make_sender(transport), items, clock)
    assert outcome.ids == [item.event_id for item in items]
    assert len(transport.requests) == 3
    assert len({request.body for request in transport.requests}) == 1
    assert clock.sleeps == [1.0, 2.0]
    snapshot = counters.snapshot(enqueued=0, queue_depth=0, in_flight=0)
    assert (snapshot.sent, snapshot.retried) == (2, 2)


@pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504], ids=str)
def test_retryable_statuses_are_retried(helpers, make_sender, clock, code):
    transport = helpers.ScriptedTransport(helpers.status(code))
    outcome = deliver(make_sender(transport), make_items(1), clock)
    assert len(outcome.ids) == 1
    assert len(transport.requests) == 2
    assert clock.sleeps == [1.0]


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), (email.utils.formatdate(NOW + 12, usegmt=True), 12.0)],
    ids=["seconds", "http-date"],
)
@pytest.mark.parametrize("code", [429, 503], ids=str)
def test_retry_after_is_honoured(helpers, make_sender, clock, code, header, expected):
    transport = helpers.ScriptedTransport(helpers.status(code, retry_after=header))
    deliver(make_sender(transport), make_items(1), clock)
    assert clock.sleeps == [expected]


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        (400, ServiceError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, ServiceError),
        (415, ServiceError),
        (422, ServiceError),
        (501, ServiceError),
        (505, ServiceError),
    ],
    ids=lambda value: str(value) if isinstance(value, int) else "",
)
def test_final_statuses_are_reported_not_retried(
    helpers, make_sender, clock, counters, code, error_type
):
    transport = helpers.ScriptedTransport(helpers.status(code, error_code="nope"))
    items = make_items(4)
    outcome = deliver(make_sender(transport), items, clock)
    assert len(transport.requests) == 1
    assert clock.sleeps == []
    assert outcome.ids == []
    [error] = outcome.errors
    assert type(error) is error_type
    assert error.status == code
    assert error.code == "nope"
    assert error.event_ids == tuple(item.event_id for item in items)
    assert counters.snapshot(enqueued=0, queue_depth=0, in_flight=0).dropped == {"http_error": 4}


def test_413_splits_until_batches_fit(helpers, make_sender, clock, counters):
    def small_batches_only(request):
        if len(helpers.decode_request(request)) > 2:
            return helpers.status(413)
        return helpers.accepted(request)

    transport = helpers.ScriptedTransport(*[small_batches_only] * 10)
    items = make_items(5)
    outcome = deliver(make_sender(transport), items, clock)
    assert outcome.ids == [item.event_id for item in items]
    sizes = [len(helpers.decode_request(request)) for request in transport.requests]
    assert sizes == [5, 2, 3, 1, 2]
    assert clock.sleeps == []
    assert counters.snapshot(enqueued=0, queue_depth=0, in_flight=0).dropped_total == 0


def test_413_for_one_event_drops_it_as_too_large(helpers, make_sender, clock, counters):
    def reject_the_big_one(request):
        items = helpers.decode_request(request)
        if any(item["n"] == 1 for item in items):
            return helpers.status(413)
        return helpers.accepted(request)

    transport = helpers.ScriptedTransport(*[reject_the_big_one] * 10)
    items = make_items(3)
    outcome = deliver(make_sender(transport), items, clock)
    assert outcome.ids == [items[0].event_id, items[2].event_id]
    [error] = outcome.errors
    assert isinstance(error, PayloadTooLargeError)
    assert error.event_ids == (items[1].event_id,)
    assert counters.snapshot(enqueued=0, queue_depth=0, in_flight=0).dropped == {"too_large": 1}


def test_rejected_items_are_reported_and_never_retried(helpers, make_sender, clock, counters):
    items = make_items(3)
    body = (
        b'{"accepted": 2, "ids": ["%s", "%s"], "rejected": [{"index": 1, "error": "bad key"}]}'
        % (items[0].event_id.encode(), items[2].event_id.encode())
    )
    transport = helpers.ScriptedTransport(Response(200, {}, body))
    outcome = deliver(make_sender(transport), items, clock)
    assert len(transport.requests) == 1
    assert outcome.ids == [items[0].event_id, items[2].event_id]
    [error] = outcome.errors
    assert isinstance(error, EventRejectedError)
    assert (error.event_id, error.index) == (items[1].event_id, 1)
    assert "bad key" in error.message
    snapshot = counters.snapshot(enqueued=0, queue_depth=0, in_flight=0)
    assert (snapshot.sent, dict(snapshot.dropped)) == (2, {"rejected": 1})


def test_a_2xx_without_json_counts_everything_sent(helpers, make_sender, clock, counters):
    transport = helpers.ScriptedTransport(Response(204, {}, b""))
    items = make_items(2)
    outcome = deliver(make_sender(transport), items, clock)
    assert outcome.ids == [item.event_id for item in items]
    assert counters.snapshot(enqueued=0, queue_depth=0, in_flight=0).sent == 2


def test_retries_are_capped_when_asked(helpers, make_sender, clock, counters):
    transport = helpers.ScriptedTransport(*[helpers.status(503)] * 10)
    outcome = deliver(make_sender(transport, max_retries=2), make_items(2), clock)
    assert len(transport.requests) == 3
    assert clock.sleeps == [1.0, 2.0]
    [error] = outcome.errors
    assert isinstance(error, ServiceError)
    assert error.status == 503
    assert counters.snapshot(enqueued=0, queue_depth=0, in_flight=0).dropped == {
        "retries_exhausted": 2
    }


def test_backoff_grows_to_the_cap(helpers, make_sender, clock):
    transport = helpers.ScriptedTransport(*[helpers.network_error()] * 6)
    deliver(make_sender(transport, max_retries=6), make_items(1), clock)
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_an_interrupted_sleep_leaves_items_unfinished(helpers, make_sender, clock, counters):
    transport = helpers.ScriptedTransport(helpers.network_error())
    items = make_items(2)
    outcome = make_sender(transport).deliver(items, sleep=lambda seconds: False)
    assert outcome.unfinished == items
    assert outcome.ids == []
    assert counters.snapshot(enqueued=0, queue_depth=0, in_flight=0).dropped_total == 0


def test_the_deadline_stops_retrying(helpers, make_sender, clock, counters):
    transport = helpers.ScriptedTransport(*[helpers.network_error()] * 10)
    items = make_items(1)
    outcome = deliver(make_sender(transport), items, clock, deadline=clock.now + 3.5)
    # Sleeps of 1 and 2 fit in 3.5 s; the next (4 s) would not.
    assert clock.sleeps == [1.0, 2.0]
    assert outcome.unfinished == items
    assert len(transport.requests) == 3


def test_the_remaining_time_caps_each_request(helpers, make_sender, clock):
    seen = []

    class Recording(helpers.ScriptedTransport):
        def send(self, request, *, timeout_seconds=None):
            seen.append(timeout_seconds)
            return super().send(request, timeout_seconds=timeout_seconds)

    deliver(make_sender(Recording()), make_items(1), clock, deadline=clock.now + 4)
    deliver(make_sender(Recording()), make_items(1), clock)
    assert seen == [4.0, None]


def test_transport_error_carries_the_event_ids(helpers, make_sender, clock):
    transport = helpers.ScriptedTransport(TransportError("boom"))
    items = make_items(2)
    outcome = deliver(make_sender(transport, max_retries=0), items, clock)
    [error] = outcome.errors
    assert isinstance(error, TransportError)
    assert error.event_ids == tuple(item.event_id for item in items)


def test_an_empty_batch_sends_nothing(helpers, make_sender, clock):
    transport = helpers.ScriptedTransport()
    outcome = deliver(make_sender(transport), [], clock)
    assert transport.requests == []
    assert outcome.ids == []
