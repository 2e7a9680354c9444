"""Fork safety: after os.fork() parent and child both deliver, even with locks held."""

from __future__ import annotations

import json
import os
import select
import signal
import threading
import time
import warnings

import pytest

from stats_client import Analytics, MemoryTransport

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork()")


def run_in_child(child, timeout=30.0):
    """Fork; run ``child()`` in the child and return its JSON result (the child never returns)."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking a multi-threaded process; that is the point here.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            os.close(read_end)
            os.write(write_end, json.dumps(child()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([read_end], [], [], max(remaining, 0))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                pytest.fail("the forked child hung (a lock copied in a held state?)")
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return json.loads(b"".join(chunks))


def test_parent_and_child_both_deliver():
    transport = MemoryTransport()
    client = Analytics(
        {"transport": transport, "flush_at_exit": False, "flush_interval_seconds": 1000}
    )
    client.log({"event": "before.fork", "uid": "parent"})  # still buffered when we fork

    def child():
        event_id = client.log({"event": "in.child", "uid": "child"})
        flushed = client.flush(10)
        counters = client.counters()
        return {
            "flushed": flushed,
            "event_id": event_id,
            "events": [event["event"] for event in transport.events],
            "enqueued": counters.enqueued,
            "sent": counters.sent,
        }

    result = run_in_child(child)
    assert result["flushed"] is True
    # The child delivers its own event, and not the parent's buffered one.
    assert result["events"] == ["in.child"]
    assert (result["enqueued"], result["sent"]) == (1, 1)

    client.log({"event": "after.fork", "uid": "parent"})
    assert client.flush(10)
    assert [event["event"] for event in transport.events] == ["before.fork", "after.fork"]
    client.close()


def test_child_is_not_stuck_on_locks_held_by_parent_threads():
    transport = MemoryTransport()
    client = Analytics({"transport": transport, "flush_at_exit": False})
    client.log({"event": "warm.up", "uid": "parent"})
    assert client.flush(10)
    worker = client._worker
    holding = threading.Event()
    release = threading.Event()

    def hold_the_locks():
        with worker._cond, transport._lock, client._counters._lock:
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold_the_locks)
    holder.start()
    assert holding.wait(10)
    try:

        def child():
            client.log({"event": "in.child", "uid": "child"})
            return {"flushed": client.flush(10), "sent": client.counters().sent}

        result = run_in_child(child)
    finally:
        release.set()
        holder.join(10)
    assert result == {"flushed": True, "sent": 1}
    client.close()


def test_a_new_pid_seen_without_fork_hooks_also_resets(monkeypatch):
    transport = MemoryTransport()
    client = Analytics(
        {"transport": transport, "flush_at_exit": False, "flush_interval_seconds": 1000}
    )
    client.log({"event": "parent.buffered", "uid": "p"})
    worker = client._worker
    old_thread = worker._thread
    real_pid = os.getpid()
    # As if a C extension had forked without running Python's fork hooks.
    monkeypatch.setattr(os, "getpid", lambda: real_pid + 100_000)
    client.log({"event": "child.event", "uid": "c"})
    assert worker._thread is not old_thread
    assert client.counters().enqueued == 1
    assert client.flush(10)
    assert [event["event"] for event in transport.events] == ["child.event"]
    # The stale sender thread noticed it was replaced and ended.
    old_thread.join(10)
    assert not old_thread.is_alive()
    monkeypatch.undo()
    client.close(0)
