"""The Analytics facade: init/stats, log in every mode, helpers, reads and shutdown."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading

import pytest

from stats_client import (
    Analytics,
    AuthenticationError,
    ClientClosedError,
    DeliveryTimeoutError,
    EventNotFoundError,
    InvalidEventError,
    MemoryTransport,
    NotInitializedError,
    QueueFullError,
    ServiceError,
)
from stats_client.client.analytics import Analytics as SeedAnalytics


def worker_threads():
    return [thread for thread in threading.enumerate() if thread.name == "stats-client-worker"]


# -- the process-wide instance ----------------------------------------------------------


def test_stats_before_init_raises_a_clear_error():
    with pytest.raises(NotInitializedError, match=r"Analytics\.init"):
        Analytics.stats()


def test_seed_usage_chain_works():
    transport = MemoryTransport()
    SeedAnalytics.init(
        {
            "url": "http://localhost:20800",
            "access_token": "tok",
            "defer": True,
            "transport": transport,
        }
    ).stats().system_startup()
    assert SeedAnalytics.stats().flush(5)
    [event] = transport.events
    assert event["event"] == "server.start"
    assert transport.requests[0].headers["Authorization"] == "Token tok"


def test_stats_returns_the_last_init_anywhere():
    first = Analytics.init({"transport": MemoryTransport()})
    assert Analytics.stats() is first
    assert first.stats() is first
    second = Analytics.init({"transport": MemoryTransport()})
    assert Analytics.stats() is second


def test_init_again_closes_the_old_instance_without_leaking_threads():
    baseline = len(worker_threads())
    transports = []
    for n in range(20):
        transport = MemoryTransport()
        transports.append(transport)
        Analytics.init({"transport": transport, "flush_at_exit": False}).log(
            {"event": "e", "uid": str(n)}
        )
    assert len(worker_threads()) <= baseline + 1
    # Every replaced instance delivered its event when it was closed.
    assert [len(transport.events) for transport in transports[:-1]] == [1] * 19
    Analytics.reset(timeout=5)
    assert len(worker_threads()) == baseline


def test_reset_forgets_the_instance():
    Analytics.init({"transport": MemoryTransport()})
    Analytics.reset()
    with pytest.raises(NotInitializedError):
        Analytics.stats()


def test_init_takes_keyword_options_too():
    client = Analytics.init({"url": "http://a"}, url="http://b", transport=MemoryTransport())
    assert client.config.url == "http://b"


# -- log in deferred mode ---------------------------------------------------------------


def test_log_returns_the_id_the_event_is_stored_under(make_client):
    transport = MemoryTransport()
    client = make_client(transport=transport, tags={"env": "prod"})
    event_id = client.log({"event": "pnc.user.login", "uid": "oisin", "plan": "pro"})
    assert client.flush(5)
    [stored] = transport.events
    assert stored["event_id"] == event_id
    assert stored["tags"] == {"env": "prod"}
    assert stored["plan"] == "pro"


def test_injected_clock_and_ids_are_used(make_client):
    transport = MemoryTransport()
    ids = itertools.count(7)
    client = make_client(
        transport=transport,
        clock_ns=lambda: 1_795_384_765_000_000_000,
        id_factory=lambda: f"entry_{next(ids):032x}",
    )
    assert client.log({"event": "e", "uid": ""}) == f"entry_{7:032x}"
    client.flush(5)
    assert transport.events[0]["time"] == "2026-11-22T21:59:25.000000000Z"


def test_invalid_event_is_counted_not_raised(make_client):
    drops = []
    client = make_client(transport=MemoryTransport(), on_drop=lambda *args: drops.append(args))
    assert client.log({"event": "e"}) is None
    assert client.log({"uid": "u", "bad-key": 1}) is None
    assert drops == [("invalid", 1), ("invalid", 1)]
    assert client.counters().dropped == {"invalid": 2}


def test_strict_mode_raises_for_invalid_events(make_client):
    client = make_client(transport=MemoryTransport(), strict=True)
    with pytest.raises(InvalidEventError) as raised:
        client.log({"event": "e", "uid": "u", "time": "now"})
    assert raised.value.key == "time"


def test_strict_mode_raises_when_the_buffer_is_full(make_client):
    client = make_client(
        transport=MemoryTransport(), strict=True, max_queue_events=1, flush_interval_seconds=1000
    )
    client.log({"event": "e", "uid": "u"})
    with pytest.raises(QueueFullError):
        client.log({"event": "e", "uid": "u"})


@pytest.mark.parametrize("defer", [True, False], ids=["deferred", "sync"])
def test_log_after_close_is_dropped_or_raises_when_strict(make_client, defer):
    client = make_client(transport=MemoryTransport(), defer=defer)
    client.close()
    assert client.log({"event": "e", "uid": "u"}) is None
    assert client.counters().dropped == {"closed": 1}
    strict = make_client(transport=MemoryTransport(), defer=defer, strict=True)
    strict.close()
    with pytest.raises(ClientClosedError):
        strict.log({"event": "e", "uid": "u"})


def test_disabled_does_nothing(make_client, helpers):
    transport = helpers.ScriptedTransport()
    baseline = len(worker_threads())
    client = make_client(transport=transport, disabled=True)
    assert client.log({"event": "e", "uid": "u"}) is None
    assert client.log_points([{"measurement": "m", "fields": {"x": 1}}]) == []
    assert client.system_startup() is None
    assert client.flush(0) is True
    assert transport.requests == []
    assert len(worker_threads()) == baseline


def test_log_points_share_the_batch_and_the_tags(make_client):
    transport = MemoryTransport()
    client = make_client(transport=transport, tags={"env": "prod"})
    ids = client.log_points(
        [
            {"measurement": "cpu", "tags": {"host": "a"}, "fields": {"load": 0.5}},
            {"measurement": "bad name!", "fields": {"x": 1}},
            {"measurement": "mem", "fields": {"used": 10}},
        ]
    )
    assert len(ids) == 2
    client.flush(5)
    assert [point["measurement"] for point in transport.events] == ["cpu", "mem"]
    assert transport.events[0]["tags"] == {"env": "prod", "host": "a"}
    assert client.counters().dropped == {"invalid": 1}


def test_counters_report_the_whole_story(make_client):
    client = make_client(transport=MemoryTransport())
    for n in range(5):
        client.log({"event": "e", "uid": str(n)})
    client.flush(5)
    counters = client.counters()
    assert (counters.enqueued, counters.sent, counters.retried) == (5, 5, 0)
    assert (counters.queue_depth, counters.in_flight, counters.dropped_total) == (0, 0, 0)


# -- synchronous mode -------------------------------------------------------------------


def test_sync_log_sends_now_and_returns_the_stored_id(make_client, helpers):
    transport = helpers.ScriptedTransport()
    client = make_client(transport=transport, defer=False)
    event_id = client.log({"event": "e", "uid": "u"})
    assert len(transport.requests) == 1
    assert helpers.decode_request(transport.requests[0])[0]["event_id"] == event_id
    assert client.counters().sent == 1


def test_sync_log_retries_under_the_same_rules(make_client, helpers):
    transport = helpers.ScriptedTransport(
        helpers.status(503, retry_after="0"), helpers.network_error()
    )
    client = make_client(transport=transport, defer=False, retry_initial_backoff_seconds=0)
    assert client.log({"event": "e", "uid": "u"}) is not None
    assert len(transport.requests) == 3
    assert client.counters().retried == 2


def test_sync_log_reports_final_errors(make_client, helpers):
    errors = []
    transport = helpers.ScriptedTransport(helpers.status(401))
    client = make_client(transport=transport, defer=False, on_error=errors.append)
    assert client.log({"event": "e", "uid": "u"}) is None
    [error] = errors
    assert isinstance(error, AuthenticationError)
    assert client.counters().dropped == {"http_error": 1}


def test_sync_log_raises_final_errors_when_strict(make_client, helpers):
    transport = helpers.ScriptedTransport(helpers.status(422))
    client = make_client(transport=transport, defer=False, strict=True)
    with pytest.raises(ServiceError) as raised:
        client.log({"event": "e", "uid": "u"})
    assert raised.value.status == 422


def test_sync_log_gives_up_at_its_deadline(make_client, helpers):
    errors = []
    transport = helpers.ScriptedTransport(*[helpers.network_error()] * 1000)
    client = make_client(
        transport=transport,
        defer=False,
        sync_timeout_seconds=0.05,
        retry_initial_backoff_seconds=0.01,
        retry_max_backoff_seconds=0.01,
        on_error=errors.append,
    )
    assert client.log({"event": "e", "uid": "u"}) is None
    assert isinstance(errors[-1], DeliveryTimeoutError)
    assert client.counters().dropped == {"timeout": 1}


def test_sync_log_points_return_ids(make_client):
    transport = MemoryTransport()
    client = make_client(transport=transport, defer=False)
    ids = client.log_points([{"measurement": "cpu", "fields": {"load": 1}}] * 3)
    assert len(ids) == 3
    assert len(transport.requests) == 1


# -- helpers ----------------------------------------------------------------------------


def test_system_startup_and_shutdown_fields(make_client):
    transport = MemoryTransport()
    client = make_client(transport=transport, app_node="localhost")
    client.system_startup()
    client.system_shutdown()
    client.flush(5)
    start, stop = transport.events
    assert (start["event"], stop["event"]) == ("server.start", "server.stop")
    assert start["uid"] == "system-localhost"
    assert start["app_node"] == "localhost"
    assert start["hostname"] == socket.gethostname()
    assert start["ip"] == socket.gethostbyname("localhost")


def test_app_node_defaults_to_the_host_name(make_client):
    assert make_client(transport=MemoryTransport()).app_node == socket.gethostname()


def test_unresolvable_node_logs_a_null_ip(make_client):
    transport = MemoryTransport()
    client = make_client(transport=transport, app_node="no-such-host.invalid")
    client.system_startup()
    client.flush(5)
    assert transport.events[0]["ip"] is None


def test_count_and_timing(make_client):
    transport = MemoryTransport()
    client = make_client(transport=transport)
    client.count("page.view", uid="u1", page="home")
    client.count("items.sold", 5, count=99)
    client.timing("db.query", 0.25, table="users")
    client.flush(5)
    view, sold, query = transport.events
    assert (view["count"], view["page"], view["uid"]) == (1, "home", "u1")
    assert sold["count"] == 5
    assert (query["duration_seconds"], query["table"], query["uid"]) == (0.25, "users", "")


def test_timed_as_a_context_manager_records_errors(make_client):
    transport = MemoryTransport()
    client = make_client(transport=transport)
    with client.timed("job.ok", uid="u", queue="q"):
        pass
    with pytest.raises(KeyError), client.timed("job.bad"):
        raise KeyError("x")
    client.flush(5)
    ok, bad = transport.events
    assert ok["duration_seconds"] >= 0
    assert (ok["queue"], ok["uid"]) == ("q", "u")
    assert "error" not in ok
    assert bad["error"] == "KeyError"


def test_timed_as_a_decorator_for_functions_and_coroutines(make_client):
    transport = MemoryTransport()
    client = make_client(transport=transport)

    @client.timed("sync.call")
    def add(a, b):
        return a + b

    @client.timed("async.call")
    async def double(x):
        await asyncio.sleep(0)
        return 2 * x

    assert add(1, 2) == 3
    assert add.__name__ == "add"
    assert asyncio.run(double(4)) == 8
    client.flush(5)
    assert [event["event"] for event in transport.events] == ["sync.call", "async.call"]


def test_a_decorated_function_times_each_call_on_its_own(make_client):
    transport = MemoryTransport()
    client = make_client(transport=transport)
    started = threading.Barrier(4)

    @client.timed("parallel")
    def work():
        started.wait(5)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    client.flush(5)
    assert len(transport.events) == 4
    assert all(event["duration_seconds"] >= 0 for event in transport.events)


# -- reads ------------------------------------------------------------------------------


def test_ping_and_get(make_client):
    transport = MemoryTransport()
    client = make_client(transport=transport)
    assert client.ping()["status"] == "ok"
    event_id = client.log({"event": "e", "uid": "u"})
    client.flush(5)
    assert client.get(event_id)["event_id"] == event_id
    with pytest.raises(EventNotFoundError) as raised:
        client.get("entry_unknown/../x")
    assert raised.value.status == 404
    assert transport.requests[-1].path == "/log/event/entry_unknown%2F..%2Fx"


@pytest.mark.parametrize(
    ("code", "error_type"),
    [(401, AuthenticationError), (500, ServiceError)],
    ids=["401", "500"],
)
def test_ping_raises_service_errors(make_client, helpers, code, error_type):
    client = make_client(transport=helpers.ScriptedTransport(helpers.status(code)))
    with pytest.raises(error_type):
        client.ping()


# -- shutdown ---------------------------------------------------------------------------


def test_close_flushes_and_leaves_a_users_transport_open(make_client, helpers):
    transport = helpers.ScriptedTransport()
    client = make_client(transport=transport)
    client.log({"event": "e", "uid": "u"})
    assert client.close() is True
    assert len(transport.items()) == 1
    assert transport.closed is False


def test_context_manager_closes(helpers):
    transport = MemoryTransport()
    with Analytics({"transport": transport, "flush_at_exit": False}) as client:
        client.log({"event": "e", "uid": "u"})
    assert len(transport.events) == 1
    assert client.log({"event": "e", "uid": "u"}) is None


def test_repr_hides_secrets(make_client):
    client = make_client(url="http://user:pw@stats.test:8080", access_token="s3cret")
    text = repr(client)
    assert "s3cret" not in text
    assert "pw" not in text
    assert "stats.test:8080" in text


def test_the_token_is_never_logged(make_client, helpers, caplog):
    transport = helpers.ScriptedTransport(*[helpers.status(400)] * 3)
    client = make_client(transport=transport, access_token="s3cret-token")
    with caplog.at_level("DEBUG", logger="stats_client"):
        client.log({"event": "e", "uid": "u"})
        client.flush(5)
    assert caplog.records
    assert "s3cret-token" not in caplog.text
