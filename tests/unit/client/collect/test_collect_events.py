"""Events: names, tags, fields and the poll time, through the real SDK to a memory transport."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading

from stats_client import MemoryTransport
from stats_client.collect import AnalyticsSink, PrintSink
from stats_client.collect.delta import Delta
from stats_client.collect.events import delta_events, reading_events, window_events
from stats_client.collect.model import MetricDef, Reading

WHEN = dt.datetime(2026, 3, 1, 12, 0, 5, 250_000, tzinfo=dt.UTC)
GAUGE = MetricDef("open_incidents", "gauge", "h", ("team", "env"))
COUNTER = MetricDef("incidents", "counter", "h", ("team",), delta=True)


def test_reading_events_carry_labels_as_tags_and_the_value_as_a_field():
    reading = Reading(GAUGE, samples={("a", "prd"): 3.0})
    assert reading_events("tracker", reading, WHEN) == [
        {
            "event": "collect.tracker.open_incidents",
            "uid": "",
            "time": "2026-03-01T12:00:05.250000Z",
            "tags": {"team": "a", "env": "prd"},
            "value": 3.0,
        }
    ]


def test_distribution_events_carry_sum_and_count():
    metric = MetricDef("resolve", "summary", "h")
    (event,) = reading_events("t", Reading(metric, observations={(): (1.0, 4.0)}), WHEN)
    assert (event["value"], event["count"]) == (5.0, 2)
    assert "tags" not in event


def test_delta_events_mark_resets():
    reading = Reading(COUNTER, samples={("a",): 4.0})
    events = delta_events("t", reading, [Delta(("a",), 4.0, 4.0, reset=True)], WHEN)
    assert events[0]["value"] == 4.0
    assert events[0]["total"] == 4.0
    assert events[0]["reset"] is True


def test_the_sdk_ships_them_with_the_poll_time():
    transport = MemoryTransport()
    sink = AnalyticsSink(transport=transport, flush_interval_seconds=0.05)
    reading = Reading(GAUGE, samples={("a", "prd"): 3.0, ("b", "prd"): 1.0})
    threads = [
        threading.Thread(target=sink.send, args=(reading_events("src", reading, WHEN),)),
        threading.Thread(
            target=sink.send,
            args=(reading_events("src", reading, WHEN + dt.timedelta(hours=1)),),
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sink.flush(5.0)
    sink.close()
    stored = transport.events
    assert len(stored) == 4
    assert sorted({e["time"] for e in stored}) == [
        "2026-03-01T12:00:05.250000000Z",
        "2026-03-01T13:00:05.250000000Z",
    ]
    first = next(e for e in stored if e["tags"]["team"] == "a")
    assert first["event"] == "collect.src.open_incidents"
    assert first["tags"] == {"team": "a", "env": "prd"}
    assert first["value"] == 3.0


def test_after_shipping_the_sdk_clock_is_the_wall_clock_again():
    transport = MemoryTransport()
    sink = AnalyticsSink(transport=transport)
    sink.send(reading_events("src", Reading(GAUGE, samples={("a", "prd"): 1.0}), WHEN))
    sink.analytics.log({"event": "other", "uid": ""})
    sink.flush(5.0)
    sink.close()
    times = {e["event"]: e["time"] for e in transport.events}
    assert times["collect.src.open_incidents"].startswith("2026-03-01T12:00:05")
    assert not times["other"].startswith("2026-03-01")


def test_print_sink_writes_json_lines():
    out = io.StringIO()
    sink = PrintSink(out)
    sink.send(reading_events("src", Reading(GAUGE, samples={("a", "prd"): 1.0}), WHEN))
    assert json.loads(out.getvalue())["event"] == "collect.src.open_incidents"
    assert sink.count == 1


def test_a_window_shipped_twice_is_stored_once():
    transport = MemoryTransport()
    sink = AnalyticsSink(transport=transport)
    reading = Reading(GAUGE, samples={("a", "prd"): 2.0, ("b", "prd"): 1.0})
    until = WHEN + dt.timedelta(hours=1)
    first = window_events("src", reading, WHEN, until)
    again = window_events("src", reading, WHEN, until)
    assert [e["event_id"] for e in first] == [e["event_id"] for e in again]
    assert len({e["event_id"] for e in first}) == 2
    later = window_events("src", reading, until, until + dt.timedelta(hours=1))
    assert not {e["event_id"] for e in later} & {e["event_id"] for e in first}
    sink.send(first)
    sink.send(again)
    sink.send(reading_events("src", reading, WHEN))  # plain events get fresh ids
    assert sink.flush(5.0)
    sink.close()
    stored = transport.events
    assert len(stored) == 4
    assert {e["event_id"] for e in stored} >= {e["event_id"] for e in first}
