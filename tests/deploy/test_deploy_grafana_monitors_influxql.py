"""Every InfluxQL query of the Monitors dashboard, run against a real influxd.

Check results are seeded as the service logs them (``monitor_checks`` points
encoded by the service's own line-protocol encoder), then each panel's query
runs with Grafana's variables substituted, and its numbers are compared with
what the seeded results say.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from influx_fixtures import influxd  # noqa: F401 - the real-influxd fixture, used below

from stats_service.events.model import Event
from stats_service.storage.influx.lineprotocol import encode_events

pytestmark = [pytest.mark.integration, pytest.mark.influxdb]

_FROM_NS = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp()) * 10**9
_HOUR_NS = 3600 * 10**9
_TO_NS = _FROM_NS + _HOUR_NS - 1


def _seed() -> list[dict[str, Any]]:
    """Two monitors, one check a minute for an hour; 'api' fails every fifth."""
    checks = []
    for name in ("home", "api"):
        for k in range(60):
            ok = not (name == "api" and k % 5 == 0)
            checks.append(
                {
                    "monitor": name,
                    "time_ns": _FROM_NS + k * 60 * 10**9,
                    "ok": ok,
                    "status": 200 if ok else 503,
                    "latency": float(10 + k if name == "home" else 100 + 2 * k),
                }
            )
    return checks


_CHECKS = _seed()


@pytest.fixture(scope="module")
def query(influxd) -> Callable[[str], list[dict[str, Any]]]:  # noqa: F811 - the fixture
    database = f"monitors_{uuid.uuid4().hex[:8]}"
    events = [
        Event(
            event_id=f"chk_{i:032x}",
            measurement="monitor_checks",
            time_ns=c["time_ns"],
            tags={"monitor": c["monitor"], "monitor_id": f"mon_{c['monitor']}"},
            fields={"status": c["status"], "latency": c["latency"], "ok": c["ok"]},
        )
        for i, c in enumerate(_CHECKS)
    ]
    with httpx.Client(base_url=influxd.url, timeout=30.0) as client:
        client.post("/query", data={"q": f'CREATE DATABASE "{database}"'}).raise_for_status()
        client.post(
            "/write", params={"db": database, "precision": "ns"}, content=encode_events(events)
        ).raise_for_status()

    def run(text: str) -> list[dict[str, Any]]:
        with httpx.Client(base_url=influxd.url, timeout=30.0) as client:
            response = client.get("/query", params={"db": database, "q": text, "epoch": "ms"})
        response.raise_for_status()
        (result,) = response.json()["results"]
        assert "error" not in result, result
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    return run


def _substitute(text: str, monitor: str) -> str:
    replacements = {
        "$timeFilter": f"time >= {_FROM_NS // 10**6}ms and time <= {_TO_NS // 10**6}ms",
        "$__interval": "1h",
        "$measurement": "monitor_checks",
        "$monitor": monitor,
    }
    for name in sorted(replacements, key=len, reverse=True):
        text = text.replace(name, replacements[name])
    assert not re.findall(r"\$[A-Za-z_]\w*", text)
    return text


def _per_monitor(series: list[dict[str, Any]]) -> dict[str, float]:
    out = {}
    for one in series:
        values = [row[1] for row in one["values"] if row[1] is not None]
        assert len(values) == 1  # one bucket: the seeded hour
        out[one["tags"]["monitor"]] = values[0]
    return out


def _latencies(name: str) -> list[float]:
    return sorted(c["latency"] for c in _CHECKS if c["monitor"] == name)


def _expected(title: str) -> dict[str, float]:
    names = ("home", "api")
    if title == "Checks per interval":
        return dict.fromkeys(names, 60)
    if title == "Failed checks per interval":
        return {"api": 12}  # a monitor that never failed has no series at all
    if title == "Response time p95":
        # InfluxQL's percentile: the value at rank floor(n * p / 100 + 0.5).
        return {n: _latencies(n)[math.floor(60 * 0.95 + 0.5) - 1] for n in names}
    if title == "Mean response time":
        return {n: sum(_latencies(n)) / 60 for n in names}
    raise AssertionError(f"no expectation for panel {title!r}")


@pytest.fixture(scope="module")
def monitor_targets(dashboards, panel_targets) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    found: list[tuple[dict[str, Any], dict[str, Any]]] = panel_targets(dashboards["monitors"])
    return found


def test_every_monitors_panel_is_checked(monitor_targets):
    for panel, _ in monitor_targets:
        _expected(panel["title"])


@pytest.mark.parametrize("monitor", [".*", "api"], ids=["all", "one"])
def test_panel_queries_return_the_seeded_numbers(monitor_targets, query, monitor):
    for panel, target in monitor_targets:
        got = _per_monitor(query(_substitute(target["query"], monitor)))
        want = _expected(panel["title"])
        if monitor != ".*":
            want = {k: v for k, v in want.items() if k == monitor}
        assert got.keys() == want.keys(), panel["title"]
        for name, value in want.items():
            assert got[name] == pytest.approx(value), (panel["title"], name)


def test_the_monitor_variable_lists_every_monitor(dashboards, query):
    variables = {v["name"]: v for v in dashboards["monitors"]["templating"]["list"]}
    text = variables["monitor"]["query"].replace("$measurement", "monitor_checks")
    (series,) = query(text)
    assert sorted(row[1] for row in series["values"]) == ["api", "home"]
