"""Every InfluxQL query of the Analytics dashboard, run against a real influxd.

Events are seeded with the service's own line-protocol encoder, then each
panel's query is sent the way Grafana would send it: ``$timeFilter``,
``$__interval``, ``$measurement`` and ``$event`` replaced as Grafana replaces
them (the event type as an escaped regex, ``(a|b)`` for several, the
dashboard's ``.*`` for All). Each panel's result is compared with what the
seeded events say it must show.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from influx_fixtures import influxd  # noqa: F401 - the real-influxd fixture, used below

from stats_service.events.model import Event
from stats_service.storage.influx.lineprotocol import encode_events

pytestmark = [pytest.mark.integration, pytest.mark.influxdb]

_MEASUREMENT = "analytics"
_FROM_NS = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp()) * 10**9
_TO_NS = _FROM_NS + 6 * 3600 * 10**9
_SECOND = 10**9
_HOSTS = [("web-1", "10.0.0.1", 1), ("web-2", "10.0.0.2", 2), ("web-1", "10.0.0.1", 3)]


def _seed() -> list[Event]:
    events: list[Event] = []

    def add(name: str, when_ns: int, fields: dict[str, Any], measurement: str = _MEASUREMENT):
        events.append(
            Event(
                event_id=f"entry_{len(events):032x}",
                measurement=measurement,
                time_ns=when_ns,
                tags={"event": name, "identity": "seed-app"},
                fields=fields,
            )
        )

    # Twelve event types; type i happens i + 3 times, by up to four distinct uids.
    for i in range(1, 13):
        for k in range(i + 3):
            when = _FROM_NS + (i * 1200 + k * 17) * _SECOND
            add(f"app.e{i:02d}", when, {"uid": f"user-{k % 4}", "value": k})
    # A name the unescaped regex app.e05 would also match.
    for k in range(2):
        add("appxe05", _FROM_NS + (300 + k) * _SECOND, {"uid": f"user-x{k}"})
    for host, ip, hour in _HOSTS:
        when = _FROM_NS + hour * 3600 * _SECOND
        add(
            "server.start",
            when,
            {"uid": f"system-{host}", "hostname": host, "ip": ip, "app_node": host},
        )
    # Outside the time range, or in another measurement: never shown.
    add("app.e01", _FROM_NS - 3600 * _SECOND, {"uid": "user-early"})
    add("server.start", _TO_NS + 60 * _SECOND, {"uid": "system-late", "app_node": "late"})
    add("app.e12", _FROM_NS + 60 * _SECOND, {"uid": "user-other"}, measurement="elsewhere")
    return events


_EVENTS = _seed()
_IN_RANGE = [
    e for e in _EVENTS if e.measurement == _MEASUREMENT and _FROM_NS <= e.time_ns <= _TO_NS
]


@dataclass(frozen=True)
class Selection:
    """The ``$event`` variable: the chosen event types, or None for All."""

    events: tuple[str, ...] | None

    def matches(self, name: str) -> bool:
        return self.events is None or name in self.events

    def grafana_value(self) -> str:
        if self.events is None:
            return ".*"  # the dashboard's allValue
        escaped = [
            re.sub(r"[\\^$*+?.()|\[\]{}/]", lambda m: "\\" + m.group(), e) for e in self.events
        ]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


_SELECTIONS = [
    Selection(None),
    Selection(("app.e05",)),
    Selection(("app.e07", "server.start")),
]
_SELECTION_IDS = ["all", "one-type", "two-types"]


def _substitute(query: str, selection: Selection, interval: str) -> str:
    replacements = {
        "$timeFilter": f"time >= {_FROM_NS // 10**6}ms and time <= {_TO_NS // 10**6}ms",
        "$__interval": interval,
        "$measurement": _MEASUREMENT,
        "$event": selection.grafana_value(),
    }
    for name in sorted(replacements, key=len, reverse=True):
        query = query.replace(name, replacements[name])
    leftover = re.findall(r"\$[A-Za-z_]\w*", query)
    assert not leftover, f"variables Grafana would substitute were left: {leftover}"
    return query


@pytest.fixture(scope="module")
def seeded(influxd) -> Callable[[str], list[dict[str, Any]]]:  # noqa: F811 - the fixture
    database = f"grafana_{uuid.uuid4().hex[:12]}"
    with httpx.Client(base_url=influxd.url, timeout=30.0) as client:
        created = client.post("/query", data={"q": f'CREATE DATABASE "{database}"'})
        assert created.status_code == 200, created.text
        written = client.post(
            "/write",
            params={"db": database, "precision": "ns"},
            content=encode_events(_EVENTS),
        )
        assert written.status_code == 204, written.text

    def query(text: str) -> list[dict[str, Any]]:
        with httpx.Client(base_url=influxd.url, timeout=30.0) as client:
            response = client.get("/query", params={"db": database, "q": text, "epoch": "ms"})
        assert response.status_code == 200, response.text
        (result,) = response.json()["results"]
        assert "error" not in result, f"{text}: {result['error']}"
        return result.get("series", [])

    return query


def _rows(series: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(zip(series["columns"], row, strict=True)) for row in series["values"]]


def _selected(selection: Selection) -> list[Event]:
    return [e for e in _IN_RANGE if selection.matches(e.tags["event"])]


# --- what each panel must show, computed from the seed --------------------------------


def _check_events_per_interval(series, selection: Selection, interval: str) -> None:
    expected = Counter(e.tags["event"] for e in _selected(selection))
    shown = {s["tags"]["event"]: sum(r["count"] for r in _rows(s)) for s in series}
    assert shown == dict(expected)


def _check_top_events(series, selection: Selection, interval: str) -> None:
    counts = Counter(e.tags["event"] for e in _selected(selection))
    (table,) = series
    shown = sorted(((r["top"], r["event"]) for r in _rows(table)), reverse=True)
    expected = sorted(((n, name) for name, n in counts.items()), reverse=True)[:10]
    assert shown == expected


def _check_distinct_uids(series, selection: Selection, interval: str) -> None:
    (only,) = series
    (row,) = _rows(only)
    assert row["count"] == len({e.fields["uid"] for e in _selected(selection)})


def _check_distinct_uids_per_interval(series, selection: Selection, interval: str) -> None:
    (only,) = series
    per_bucket = [r["count"] for r in _rows(only)]
    total = len({e.fields["uid"] for e in _selected(selection)})
    assert max(per_bucket) <= total
    assert sum(per_bucket) >= total
    if interval == "1d":  # one bucket holds the whole range
        assert max(per_bucket) == total


def _check_startups(series, selection: Selection, interval: str) -> None:
    (only,) = series
    assert sum(r["count"] for r in _rows(only)) == len(_HOSTS)


def _check_startups_by_host(series, selection: Selection, interval: str) -> None:
    (table,) = series
    rows = _rows(table)
    assert [r["time"] for r in rows] == sorted((r["time"] for r in rows), reverse=True)
    # What the panel's groupBy transformation makes of the rows.
    per_host: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        per_host[row["app_node"]].append(row["time"])
    assert {host: len(times) for host, times in per_host.items()} == {"web-1": 2, "web-2": 1}
    last_web1 = (_FROM_NS + 3 * 3600 * _SECOND) // 10**6
    assert max(per_host["web-1"]) == last_web1
    assert {r["ip"] for r in rows} == {"10.0.0.1", "10.0.0.2"}
    assert {r["uid"] for r in rows} == {"system-web-1", "system-web-2"}


_CHECKS: dict[str, Callable[..., None]] = {
    "Events per interval by event type": _check_events_per_interval,
    "Top events": _check_top_events,
    "Distinct uids": _check_distinct_uids,
    "Distinct uids per interval": _check_distinct_uids_per_interval,
    "System startups": _check_startups,
    "System startups by host": _check_startups_by_host,
}


def test_every_analytics_panel_has_a_check(dashboards):
    assert {panel["title"] for panel in dashboards["analytics"]["panels"]} == set(_CHECKS)


@pytest.mark.parametrize("interval", ["10m", "1h", "1d"])
@pytest.mark.parametrize("selection", _SELECTIONS, ids=_SELECTION_IDS)
def test_panel_queries_return_the_seeded_series(
    dashboards, panel_targets, seeded, selection, interval
):
    targets = panel_targets(dashboards["analytics"])
    for panel, target in targets:
        series = seeded(_substitute(target["query"], selection, interval))
        assert series, f"{panel['title']}: no series for {selection}"
        _CHECKS[panel["title"]](series, selection, interval)


def test_the_event_variable_lists_every_event_type(dashboards, seeded):
    variables = {v["name"]: v for v in dashboards["analytics"]["templating"]["list"]}
    query = variables["event"]["query"].replace("$measurement", _MEASUREMENT)
    (series,) = seeded(query)
    values = sorted(row["value"] for row in _rows(series))
    assert values == sorted({e.tags["event"] for e in _EVENTS if e.measurement == _MEASUREMENT})


def test_a_regex_special_event_name_is_matched_literally(dashboards, panel_targets, seeded):
    """``app.e05`` as a regex would also match ``appxe05``; Grafana's escaping prevents it."""
    (_panel, target) = next(
        (p, t) for p, t in panel_targets(dashboards["analytics"]) if p["title"] == "Distinct uids"
    )
    assert Selection(("app.e05",)).grafana_value() == r"app\.e05"
    (only,) = seeded(_substitute(target["query"], Selection(("app.e05",)), "1h"))
    assert _rows(only)[0]["count"] == 4
    unescaped = target["query"].replace("$event", "app.e05")
    (loose,) = seeded(_substitute(unescaped, Selection(None), "1h"))
    assert _rows(loose)[0]["count"] == 6, "the seed must contain a name only a loose regex matches"
