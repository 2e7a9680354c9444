"""Golden wire payloads: what stats-client puts on the wire for fixed inputs, byte for byte.

Each file in ``golden/`` is one request body the client POSTs to ``/log/events``
(a JSON array; shown uncompressed even when the client gzips it). The service's
tests POST the same files to a real service and assert every item is accepted;
this module proves the client still produces exactly these bytes.

To regenerate after a deliberate wire change: ``python tests/contract/test_client_golden.py``.
"""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import json
import re
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from stats_client import Analytics, MemoryTransport

GOLDEN = Path(__file__).parent / "golden"
BASE_NS = 1_795_384_765_123_456_789  # 2026-11-22T21:59:25.123456789Z
KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}")
EVENT_ID = re.compile(r"entry_[0-9a-f]{32}")
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z")
RESERVED = {"time", "event_id", "measurement", "identity"}


def fixed_client(
    first_id: int, *, defer: bool, tags: dict[str, str]
) -> tuple[Analytics, MemoryTransport]:
    """A client whose clock and ids are fixed: time steps 1 µs per event, ids count up."""
    ids = itertools.count(first_id)
    ticks = itertools.count()
    transport = MemoryTransport()
    client = Analytics(
        {
            "url": "http://stats.test",
            "access_token": "golden-token",
            "defer": defer,
            "tags": tags,
            "transport": transport,
            "clock_ns": lambda: BASE_NS + 1000 * next(ticks),
            "id_factory": lambda: f"entry_{next(ids):032x}",
            "flush_interval_seconds": 1000.0,
            "flush_at_exit": False,
        }
    )
    return client, transport


def event_minimal() -> MemoryTransport:
    client, transport = fixed_client(0x100, defer=False, tags={})
    with client:
        client.log({"event": "pnc.user.login", "uid": "oisin"})
    return transport


def event_full() -> MemoryTransport:
    client, transport = fixed_client(0x200, defer=False, tags={"env": "prod", "app": "shop"})
    with client:
        client.log(
            {
                "event": "shop.purchase",
                "uid": "oisin",
                "tags": {"channel": "google", "env": "staging"},
                "amount": 12.5,
                "items": 3,
                "first_time": True,
                "coupon": None,
                "basket": {"sku": "A-1", "size": {"w": 2, "h": 3}},
                "labels": ["gift", "express"],
                "city": "Zürich",
            }
        )
    return transport


def points() -> MemoryTransport:
    client, transport = fixed_client(0x300, defer=False, tags={"env": "prod"})
    with client:
        client.log_points(
            [
                {
                    "measurement": "cpu",
                    "tags": {"host": "web-1"},
                    "fields": {"load": 0.5, "cores": 4},
                },
                {
                    "measurement": "cpu",
                    "tags": {"host": "web-1"},
                    "fields": {"load": 0.75, "cores": 4},
                },
                {
                    "measurement": "http.requests",
                    "fields": {"count": 10, "path": "/login", "ok": True},
                    "time": dt.datetime(2026, 11, 22, 21, 59, 0, tzinfo=dt.UTC),
                },
            ]
        )
    return transport


def batch() -> MemoryTransport:
    client, transport = fixed_client(0x400, defer=True, tags={"env": "prod"})
    with client:
        client.system_startup()
        for n in range(12):
            client.log({"event": "page.view", "uid": f"user-{n % 3}", "page": f"/docs/{n}", "n": n})
        client.count("signup", uid="user-1", plan="free")
        client.timing("db.query", 0.012, uid="", table="events")
        client.log_points([{"measurement": "queue", "fields": {"depth": 7}}])
    return transport


BUILDERS: dict[str, Callable[[], MemoryTransport]] = {
    "event_minimal": event_minimal,
    "event_full": event_full,
    "points": points,
    "batch": batch,
}


def wire_body(name: str) -> tuple[bytes, bool]:
    """The uncompressed body the client sends for ``name``, and whether it was gzipped."""
    transport = BUILDERS[name]()
    [request] = transport.requests
    assert (request.method, request.path) == ("POST", "/log/events")
    gzipped = request.headers.get("Content-Encoding") == "gzip"
    return (gzip.decompress(request.body) if gzipped else request.body), gzipped


@pytest.fixture(autouse=True)
def _fixed_host(monkeypatch):
    """system_startup() reads the host; pin it so the golden batch is the same everywhere."""
    monkeypatch.setattr(socket, "gethostname", lambda: "golden-host")
    monkeypatch.setattr(socket, "gethostbyname", lambda name: "10.0.0.7")


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_client_wire_matches_the_golden_file(name):
    body, _ = wire_body(name)
    assert body == (GOLDEN / f"{name}.json").read_bytes().rstrip(b"\n")


@pytest.mark.parametrize(
    ("name", "gzipped"),
    [("event_minimal", False), ("event_full", False), ("points", False), ("batch", True)],
    ids=["event_minimal", "event_full", "points", "batch"],
)
def test_bodies_over_the_threshold_are_gzipped(name, gzipped):
    assert wire_body(name)[1] is gzipped


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_golden_items_follow_the_wire_contract(name):
    items = json.loads((GOLDEN / f"{name}.json").read_bytes())
    assert isinstance(items, list)
    assert items
    ids = [item["event_id"] for item in items]
    assert len(set(ids)) == len(ids)
    for item in items:
        assert EVENT_ID.fullmatch(item["event_id"])
        assert TIME.fullmatch(item["time"])
        for key, value in item.get("tags", {}).items():
            assert KEY.fullmatch(key)
            assert key not in RESERVED
            assert isinstance(value, str)
        if "measurement" in item:
            assert set(item) <= {"measurement", "tags", "fields", "time", "event_id"}
            assert item["fields"]
            data = item["fields"]
        else:
            assert isinstance(item["event"], str)
            assert item["event"]
            assert isinstance(item["uid"], str)
            data = {
                k: v
                for k, v in item.items()
                if k not in {"event", "uid", "tags", "time", "event_id"}
            }
        for key in data:
            assert KEY.fullmatch(key)
            assert key not in RESERVED


def test_golden_ids_do_not_repeat_across_files():
    seen: list[str] = []
    for name in BUILDERS:
        seen.extend(item["event_id"] for item in json.loads((GOLDEN / f"{name}.json").read_bytes()))
    assert len(seen) == len(set(seen))


def _write_golden_files() -> None:
    socket.gethostname = lambda: "golden-host"  # type: ignore[assignment]
    socket.gethostbyname = lambda name: "10.0.0.7"  # type: ignore[assignment]
    for name in BUILDERS:
        body, _ = wire_body(name)
        (GOLDEN / f"{name}.json").write_bytes(body + b"\n")
        print(f"wrote {GOLDEN / name}.json ({len(body)} bytes)")


if __name__ == "__main__":
    _write_golden_files()
    sys.exit(0)
