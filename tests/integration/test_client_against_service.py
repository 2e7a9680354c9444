"""The stats-client SDK against the real service: golden payloads, delivery, exit drain, fork."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import httpx
import pytest
from service_process import LiveService

from stats_client import Analytics

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).resolve().parents[1] / "contract" / "golden"


def _count(live: LiveService, uid: str, expected: int, timeout_seconds: float = 30.0) -> int:
    """Events stored for ``uid`` (pages through the window query)."""
    deadline = time.monotonic() + timeout_seconds
    total = 0
    with live.client(live.reader) as client:
        while True:
            total, cursor = 0, None
            while True:
                params: dict[str, str | int] = {"uid": uid, "limit": 1000}
                if cursor:
                    params["cursor"] = cursor
                body = client.get("/log/events", params=params).json()
                total += len(body["events"])
                cursor = body["next_cursor"]
                if not cursor:
                    break
            if total >= expected or time.monotonic() > deadline:
                return total
            time.sleep(0.2)


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("*.json")))
def test_service_accepts_every_golden_payload(live_service: LiveService, name: str) -> None:
    items = json.loads((GOLDEN / name).read_text(encoding="utf-8"))
    with live_service.client(live_service.admin) as client:
        response = client.post("/log/events", json=items)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["rejected"] == []
        assert body["ids"] == [item["event_id"] for item in items]
        stored = client.get(f"/log/event/{items[0]['event_id']}").json()
    first = items[0]
    if "event" in first:
        assert stored["event"] == first["event"]
        assert stored["uid"] == first["uid"]
        assert stored["time"] == first["time"]
    else:
        assert stored["measurement"] == first["measurement"]


def test_deferred_events_arrive_once_each(live_service: LiveService) -> None:
    uid = f"sdk-{uuid.uuid4().hex}"
    analytics = Analytics.init(
        {"url": live_service.url, "access_token": live_service.writer, "defer": True}
    )
    try:
        ids = [analytics.log({"event": "sdk.test", "uid": uid, "i": i}) for i in range(2000)]
        assert analytics.flush(30.0) is True
        counters = analytics.counters()
    finally:
        Analytics.reset(5.0)
    assert len(set(ids)) == 2000
    assert counters.sent == 2000
    assert _count(live_service, uid, 2000) == 2000


def test_synchronous_mode_returns_stored_ids(live_service: LiveService) -> None:
    analytics = Analytics.init(
        {"url": live_service.url, "access_token": live_service.admin, "defer": False}
    )
    try:
        event_id = analytics.system_startup()
        assert event_id is not None
        stored = analytics.get(event_id)
        assert analytics.ping()["status"] == "ok"
    finally:
        Analytics.reset(5.0)
    assert stored["event"] == "server.start"
    assert stored["uid"].startswith("system-")


def _script(body: str, live: LiveService, uid: str) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(
        f"""
        import os, sys
        from stats_client import Analytics
        URL, TOKEN, UID = {live.url!r}, {live.writer!r}, {uid!r}
        """
    ) + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_script_exiting_without_flush_delivers_everything(live_service: LiveService) -> None:
    uid = f"exit-{uuid.uuid4().hex}"
    result = _script(
        """
        Analytics.init({"url": URL, "access_token": TOKEN, "defer": True,
                        "shutdown_timeout_seconds": 20})
        for i in range(5000):
            Analytics.stats().log({"event": "exit.test", "uid": UID, "i": i})
        """,
        live_service,
        uid,
    )
    assert result.returncode == 0, result.stderr
    assert _count(live_service, uid, 5000) == 5000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_parent_and_forked_child_both_deliver(live_service: LiveService) -> None:
    uid = f"fork-{uuid.uuid4().hex}"
    result = _script(
        """
        a = Analytics.init({"url": URL, "access_token": TOKEN, "defer": True})
        a.log({"event": "fork.parent.before", "uid": UID})
        pid = os.fork()
        if pid == 0:
            for i in range(100):
                Analytics.stats().log({"event": "fork.child", "uid": UID, "i": i})
            ok = Analytics.stats().flush(20)
            os._exit(0 if ok else 3)
        for i in range(100):
            a.log({"event": "fork.parent", "uid": UID, "i": i})
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status) or (0 if a.flush(20) else 4))
        """,
        live_service,
        uid,
    )
    assert result.returncode == 0, result.stderr
    assert _count(live_service, uid, 201) == 201


def test_client_cli_round_trip(live_service: LiveService) -> None:
    env = {**os.environ, "STATS_URL": live_service.url, "STATS_TOKEN": live_service.admin}
    cli = [sys.executable, "-m", "stats_client.cli"]
    logged = subprocess.run(
        [*cli, "log", "--event", "cli.test", "--uid", "u1", "plan=pro"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    event_id = logged.stdout.strip().strip('"')
    got = subprocess.run(
        [*cli, "get", event_id], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(got.stdout)["plan"] == "pro"
    assert httpx.get(f"{live_service.url}/ping").status_code == 200


def test_get_after_a_deferred_log_finds_the_event_once_flushed(live_service: LiveService) -> None:
    # README: log() only queues the event; flush() before get() to read it back.
    with Analytics({"url": live_service.url, "access_token": live_service.admin}) as analytics:
        event_id = analytics.log({"event": "readme.flush", "uid": "u"})
        assert event_id is not None
        assert analytics.flush(timeout=10)
        stored = analytics.get(event_id)
    assert stored["event"] == "readme.flush"
