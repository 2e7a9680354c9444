"""Time-window collectors: half-open windows, watermarks moved only after shipping, gap split."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from stats_client.collect import MemoryFetcher, MemoryStateStore, PythonSource, register_metric
from stats_client.collect.sources import PythonSourceRunner
from stats_client.collect.windows import split_windows
from tests.unit.client.collect.harness import make_harness

UTC = dt.UTC
DAY = dt.timedelta(days=1)


class Jobs(PythonSource):
    calls: list[tuple[dt.datetime, dt.datetime]]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = []
        self.fail = False

    @register_metric("jobs_finished", labels=("kind",), help="Jobs finished in the window")
    def jobs_finished(self, since, until):
        if self.fail:
            raise RuntimeError("database is away")
        self.calls.append((since, until))
        return [{"kind": "build", "metric_value": (until - since) / DAY}]


def jobs_harness(state=None, cap_days=28.0):
    instance = Jobs(options={}, fetcher=MemoryFetcher(), timeout_seconds=1.0)
    source = PythonSourceRunner("ci", instance, interval=3600.0, jitter=0.0)
    harness = make_harness("sources: []\n", sources=[source], state=state, max_window_days=cap_days)
    return harness, instance


def test_split_windows_is_half_open_and_capped():
    since = dt.datetime(2026, 1, 1, tzinfo=UTC)
    windows = split_windows(since, since + 60 * DAY, 28 * DAY)
    assert windows == [
        (since, since + 28 * DAY),
        (since + 28 * DAY, since + 56 * DAY),
        (since + 56 * DAY, since + 60 * DAY),
    ]
    assert split_windows(since, since, DAY) == []
    with pytest.raises(ValueError, match="positive"):
        split_windows(since, since + DAY, dt.timedelta(0))


def test_first_run_looks_back_one_interval_then_continues_from_the_watermark():
    harness, jobs = jobs_harness()
    harness.runner.poll_all()
    now = harness.clock.wall()
    assert jobs.calls == [(now - dt.timedelta(hours=1), now)]
    harness.clock.advance(1800)
    harness.runner.poll_all()
    assert jobs.calls[1] == (now, now + dt.timedelta(minutes=30))  # no gap, no overlap
    (event, *_) = [e for e in harness.sink.events if e["window_since"] == "2026-03-01T12:00:00Z"]
    assert event["event"] == "collect.ci.jobs_finished"
    assert event["time"] == "2026-03-01T12:00:00Z"
    assert event["window_until"] == "2026-03-01T12:30:00Z"
    assert harness.value("jobs_finished", kind="build") == pytest.approx(1 / 48)


def test_a_long_gap_is_split_by_the_cap_and_shipped_oldest_first():
    harness, jobs = jobs_harness(cap_days=28.0)
    harness.runner.poll_all()
    harness.clock.advance(60 * 86400)
    harness.runner.poll_all()
    later = jobs.calls[1:]
    assert [until - since for since, until in later] == [28 * DAY, 28 * DAY, 4 * DAY]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(later))


def test_the_watermark_moves_only_after_the_window_was_shipped():
    state = MemoryStateStore()
    harness, jobs = jobs_harness(state=state)
    harness.runner.poll_all()
    first_mark = state.state["watermarks"]["ci"]["jobs_finished"]
    harness.clock.advance(3600)
    harness.sink.fail = True
    (outcome,) = harness.runner.poll_all()
    assert [e.reason.value for e in outcome.errors] == ["ship_failed"]
    assert state.state["watermarks"]["ci"]["jobs_finished"] == first_mark
    failed_window = jobs.calls[1]
    failed_ids = [e["event_id"] for e in harness.sink.events[1:]]
    harness.sink.fail = False
    harness.clock.advance(600)
    harness.runner.poll_all()
    assert jobs.calls[2] == failed_window  # the failed window again, exactly as it was
    assert jobs.calls[3] == (failed_window[1], failed_window[1] + dt.timedelta(minutes=10))
    retried_ids = [
        e["event_id"] for e in harness.sink.events if e["window_since"] == "2026-03-01T12:00:00Z"
    ]
    assert retried_ids == failed_ids * 2  # same ids: the service keeps one copy
    assert state.state["watermarks"]["ci"]["jobs_finished"] == "2026-03-01T13:10:00+00:00"
    assert state.state["held_windows"]["ci"] == {}


def test_a_failing_window_collector_is_counted_and_keeps_its_watermark():
    state = MemoryStateStore()
    harness, jobs = jobs_harness(state=state)
    harness.runner.poll_all()
    mark = state.state["watermarks"]["ci"]["jobs_finished"]
    jobs.fail = True
    harness.clock.advance(3600)
    harness.runner.poll_all()
    assert harness.value("collector_errors_total", source="ci", reason="collector_error") == 1
    assert state.state["watermarks"]["ci"]["jobs_finished"] == mark


def test_watermarks_survive_a_restart():
    state = MemoryStateStore()
    harness, _ = jobs_harness(state=state)
    harness.runner.poll_all()
    end = harness.clock.wall()
    again, jobs = jobs_harness(state=state)
    again.clock.advance(900)
    again.runner.poll_all()
    assert jobs.calls == [(end, end + dt.timedelta(minutes=15))]
