"""stats-client over real HTTP against a local fake server that misbehaves on request.

Covers keep-alive, gzip, every retry rule end to end, 413 splitting, slow and
silent servers, proxies, the CLI, the exit-time drain in a fresh interpreter,
fork, and 16 threads logging at once.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import pytest
from fake_stats_server import Behaviour, FakeStatsServer

from stats_client import (
    Analytics,
    AuthenticationError,
    DeliveryTimeoutError,
    EventNotFoundError,
    EventRejectedError,
    ServiceError,
    TransportError,
)
from stats_client.cli import main as cli_main

pytestmark = pytest.mark.integration

EXIT_BUDGET_SECONDS = 2.0


@pytest.fixture
def server():
    with FakeStatsServer() as running:
        yield running


@pytest.fixture
def make_client():
    made = []

    def make(url, **options):
        config = {
            "url": url,
            "access_token": "fault-token",
            "flush_at_exit": False,
            "retry_initial_backoff_seconds": 0.01,
            "retry_max_backoff_seconds": 0.05,
            "read_timeout_seconds": 5.0,
        }
        config.update(options)
        client = Analytics(config)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close(timeout=1)


def dead_port():
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_events(client, count, **data):
    return [
        client.log({"event": "fault.test", "uid": f"u{n}", "n": n, **data}) for n in range(count)
    ]


# -- HTTP basics ------------------------------------------------------------------------


def test_batches_reuse_one_keep_alive_connection(server, make_client):
    client = make_client(server.url)
    for _ in range(3):
        log_events(client, 5)
        assert client.flush(10)
    assert len(server.received_ids) == 15
    assert len([r for r in server.requests if r.path == "/log/events"]) == 3
    assert server.connections == 1


def test_a_keep_alive_connection_closed_by_the_server_is_replaced_quietly(server, make_client):
    server.script(Behaviour(close_after=True))
    client = make_client(server.url)
    first = log_events(client, 2)
    assert client.flush(10)
    second = log_events(client, 2)
    assert client.flush(10)
    assert server.received_ids == first + second
    assert server.connections == 2
    assert client.counters().retried == 0


def test_headers_and_gzip_on_the_wire(server, make_client):
    client = make_client(server.url)
    log_events(client, 40, text="x" * 50)
    assert client.flush(10)
    [request] = server.requests
    assert request.headers["Authorization"] == "Token fault-token"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.headers["User-Agent"].startswith("stats-client/")
    assert len(request.items) == 40


def test_ping_get_and_404(server, make_client):
    client = make_client(server.url)
    assert client.ping()["name"] == "stats-service"
    [event_id] = log_events(client, 1)
    assert client.flush(10)
    assert client.get(event_id)["event_id"] == event_id
    with pytest.raises(EventNotFoundError):
        client.get("entry_" + "0" * 32)


# -- retry rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "behaviour",
    [
        Behaviour(status=408),
        Behaviour(status=429, retry_after="0"),
        Behaviour(status=500),
        Behaviour(status=502),
        Behaviour(status=503, retry_after="0"),
        Behaviour(status=504),
        Behaviour(drop_connection=True),
    ],
    ids=["408", "429-retry-after", "500", "502", "503-retry-after", "504", "connection-dropped"],
)
def test_transient_failures_are_retried_and_stored_once(server, make_client, behaviour):
    server.script(behaviour, behaviour)
    client = make_client(server.url)
    ids = log_events(client, 10)
    assert client.flush(10)
    stored = server.received_ids
    assert sorted(stored) == sorted(ids)
    posts = [r for r in server.requests if r.path == "/log/events"]
    assert len(posts) == 3
    # Every attempt carried the same events with the same ids.
    assert {tuple(i["event_id"] for i in r.items) for r in posts} == {tuple(ids)}
    counters = client.counters()
    assert (counters.sent, counters.retried, counters.dropped_total) == (10, 2, 0)


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        (400, ServiceError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (415, ServiceError),
        (422, ServiceError),
        (501, ServiceError),
        (505, ServiceError),
    ],
    ids=lambda value: str(value) if isinstance(value, int) else "",
)
def test_final_failures_are_reported_once_and_not_retried(server, make_client, code, error_type):
    errors = []
    server.script(Behaviour(status=code))
    client = make_client(server.url, on_error=errors.append)
    log_events(client, 4)
    assert client.flush(10)
    [error] = errors
    assert type(error) is error_type
    assert error.status == code
    assert len(server.requests) == 1
    assert client.counters().dropped == {"http_error": 4}


def test_a_transient_outage_loses_nothing_while_the_buffer_has_room(server, make_client):
    server.script(*[Behaviour(status=503, retry_after="0")] * 5, Behaviour(drop_connection=True))
    client = make_client(server.url, max_batch_events=50)
    ids = log_events(client, 200)
    assert client.flush(20)
    assert sorted(server.received_ids) == sorted(ids)
    assert client.counters().dropped_total == 0


def test_413_splits_the_batch_until_it_fits(server, make_client):
    server._state.max_batch_items = 3
    client = make_client(server.url)
    ids = log_events(client, 10)
    assert client.flush(10)
    assert sorted(server.received_ids) == sorted(ids)
    sizes = [len(r.items) for r in server.requests]
    assert sizes[0] == 10
    assert max(sizes[1:]) <= 5
    assert client.counters().dropped_total == 0


def test_rejected_items_reach_on_error_and_the_rest_is_stored(server, make_client):
    errors = []
    client = make_client(server.url, on_error=errors.append)
    good = client.log({"event": "e", "uid": "fine"})
    bad = client.log({"event": "e", "uid": "reject-me"})
    assert client.flush(10)
    assert server.received_ids == [good]
    [error] = errors
    assert isinstance(error, EventRejectedError)
    assert error.event_id == bad
    assert client.counters().dropped == {"rejected": 1}


def test_a_slow_server_is_waited_for(server, make_client):
    server.script(Behaviour(delay_seconds=0.3))
    client = make_client(server.url)
    ids = log_events(client, 3)
    assert client.flush(10)
    assert server.received_ids == ids
    assert client.counters().retried == 0


def test_a_server_that_never_answers_hits_the_read_timeout_then_retries(server, make_client):
    server.script(Behaviour(hang=True))
    client = make_client(server.url, read_timeout_seconds=0.2)
    ids = log_events(client, 3)
    assert client.flush(10)
    assert server.received_ids == ids
    assert client.counters().retried == 1


def test_close_gives_up_on_a_silent_server_within_its_timeout(server, make_client):
    server.script(*[Behaviour(hang=True)] * 3)
    client = make_client(server.url, read_timeout_seconds=30.0)
    log_events(client, 5)
    assert client.close(timeout=0.2) is False
    assert client.counters().dropped == {"shutdown": 5}


def test_a_dead_port(make_client):
    errors = []
    url = f"http://127.0.0.1:{dead_port()}"
    client = make_client(url, defer=False, sync_timeout_seconds=0.2, on_error=errors.append)
    with pytest.raises(TransportError, match="refused"):
        client.ping()
    assert client.log({"event": "e", "uid": "u"}) is None
    assert isinstance(errors[-1], DeliveryTimeoutError)


def test_requests_go_through_an_http_proxy(server, make_client):
    client = make_client(
        "http://stats.invalid:9/base", proxy_url=server.url.replace("http://", "http://me:pw@")
    )
    ids = log_events(client, 2)
    assert client.flush(10)
    assert server.received_ids == ids
    [request] = server.requests
    assert request.proxied
    assert request.path == "/base/log/events"
    assert request.headers["Proxy-Authorization"].startswith("Basic ")
    assert request.headers["Host"] == "stats.invalid:9"


@pytest.fixture
def tls_server(tmp_path):
    """A fake server on https://localhost with a fresh self-signed certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with FakeStatsServer(tls=context) as running:
        yield running, running.url.replace("127.0.0.1", "localhost"), str(cert)


def test_https_with_a_ca_bundle(tls_server, make_client):
    server, url, ca_bundle = tls_server
    client = make_client(url, ca_bundle_path=ca_bundle)
    ids = log_events(client, 3)
    assert client.flush(10)
    assert server.received_ids == ids
    assert client.ping()["status"] == "ok"


def test_https_refuses_an_untrusted_certificate(tls_server, make_client):
    _, url, _ = tls_server
    client = make_client(url, defer=False, max_retries=0)
    with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
        client.ping()
    unchecked = make_client(url, verify_tls=False)
    assert unchecked.ping()["status"] == "ok"


# -- command line -----------------------------------------------------------------------


def test_cli_ping_log_get(server, capsys):
    env = {"STATS_URL": server.url, "STATS_TOKEN": "cli-token"}
    assert cli_main(["ping"], environ=env) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "ok"
    argv = ["log", "--event", "cli.test", "--uid", "me", "--tag", "flag=true", "n=3", "ok=true"]
    assert cli_main(argv, environ=env) == 0
    event_id = capsys.readouterr().out.strip()
    stored = server.stored[event_id]
    assert (stored["event"], stored["uid"], stored["n"], stored["ok"]) == (
        "cli.test",
        "me",
        3,
        True,
    )
    assert stored["tags"] == {"flag": "true"}
    assert server.requests[-1].headers["Authorization"] == "Token cli-token"
    assert cli_main(["get", event_id], environ=env) == 0
    assert json.loads(capsys.readouterr().out)["event_id"] == event_id
    assert cli_main(["get", "entry_" + "f" * 32], environ=env) == 1
    assert "404" in capsys.readouterr().err


def test_cli_reports_an_unreachable_service(capsys):
    assert cli_main(["--url", f"http://127.0.0.1:{dead_port()}", "--timeout", "1", "ping"]) == 1
    assert "refused" in capsys.readouterr().err


# -- interpreter exit -------------------------------------------------------------------

EXIT_SCRIPT = textwrap.dedent(
    """
    import logging, sys
    from stats_client import Analytics

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    Analytics.init(dict(url=sys.argv[1], access_token="exit-token", defer=True))
    for n in range(int(sys.argv[2])):
        Analytics.stats().log({"event": "exit.test", "uid": "script", "n": n})
    # No flush, no close: the interpreter exits with events still buffered.
    """
)


def run_exit_script(tmp_path, url, count):
    script = tmp_path / "log_and_exit.py"
    script.write_text(EXIT_SCRIPT)
    started = time.monotonic()
    finished = subprocess.run(
        [sys.executable, str(script), url, str(count)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return finished, time.monotonic() - started


def test_exit_delivers_every_event_without_a_flush(server, tmp_path):
    finished, _ = run_exit_script(tmp_path, server.url, 5000)
    assert finished.returncode == 0, finished.stderr
    assert finished.stderr == ""
    ids = server.received_ids
    assert len(ids) == 5000
    assert len(set(ids)) == 5000
    assert sorted(item["n"] for item in server.stored.values()) == list(range(5000))


def test_exit_against_a_dead_port_stays_within_the_budget(tmp_path):
    finished, elapsed = run_exit_script(tmp_path, f"http://127.0.0.1:{dead_port()}", 1000)
    assert finished.returncode == 0, finished.stderr
    assert elapsed < EXIT_BUDGET_SECONDS + 5
    warnings_logged = [line for line in finished.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings_logged) == 1
    assert "1000 events were not confirmed delivered at interpreter exit" in warnings_logged[0]


def test_exit_against_a_silent_server_stays_within_the_budget(server, tmp_path):
    server.script(*[Behaviour(hang=True)] * 20)
    finished, elapsed = run_exit_script(tmp_path, server.url, 1000)
    assert finished.returncode == 0, finished.stderr
    assert elapsed < EXIT_BUDGET_SECONDS + 5
    assert "not confirmed delivered" in finished.stderr


# -- fork -------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork()")
def test_parent_and_forked_child_both_deliver_over_http(server, make_client):
    client = make_client(server.url, flush_interval_seconds=1000.0)
    parent_before = client.log({"event": "fork.test", "uid": "parent-before"})
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read_end)
            child_ids = [client.log({"event": "fork.test", "uid": f"child-{n}"}) for n in range(20)]
            flushed = client.flush(10)
            os.write(write_end, json.dumps({"flushed": flushed, "ids": child_ids}).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    ready, _, _ = select.select([read_end], [], [], 30)
    if not ready:
        os.kill(pid, signal.SIGKILL)
    data = os.read(read_end, 1 << 20) if ready else b""
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    child = json.loads(data)
    assert child["flushed"] is True
    parent_after = client.log({"event": "fork.test", "uid": "parent-after"})
    assert client.flush(10)
    stored = server.received_ids
    assert sorted(stored) == sorted([parent_before, parent_after, *child["ids"]])


def _log_in_pool_child(count):
    for n in range(count):
        Analytics.stats().log({"event": "mp.test", "uid": f"pid-{os.getpid()}", "n": n})
    # Return without flushing: multiprocessing ends the child with os._exit().


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs the fork start method")
def test_multiprocessing_children_drain_before_they_exit(server):
    Analytics.init({"url": server.url, "flush_at_exit": True, "flush_interval_seconds": 1000.0})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context = multiprocessing.get_context("fork")
            children = [context.Process(target=_log_in_pool_child, args=(50,)) for _ in range(2)]
            for child in children:
                child.start()
        for child in children:
            child.join(30)
            assert child.exitcode == 0
        assert server.wait_for_ids(100, timeout=10)
        assert len(set(server.received_ids)) == 100
    finally:
        Analytics.reset(timeout=1)


# -- many threads -----------------------------------------------------------------------


@pytest.mark.slow
def test_sixteen_threads_of_ten_thousand_events_arrive_exactly_once(server, make_client):
    threads_count, per_thread = 16, 10_000
    client = make_client(
        server.url, max_queue_events=threads_count * per_thread, max_queue_bytes=256 << 20
    )
    start = threading.Barrier(threads_count)

    def produce(thread_number):
        start.wait(30)
        for n in range(per_thread):
            client.log({"event": "load.test", "uid": f"t{thread_number}", "n": n})

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert client.flush(120)
    ids = server.received_ids
    assert len(ids) == threads_count * per_thread
    assert len(set(ids)) == threads_count * per_thread
    counters = client.counters()
    assert (counters.enqueued, counters.sent, counters.dropped_total) == (160_000, 160_000, 0)
