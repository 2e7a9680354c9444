"""Python sources: decorators, a self-registering registry, entry points, result checking."""

from __future__ import annotations

import importlib.metadata

import pytest

from stats_client.collect import (
    MemoryFetcher,
    PythonSource,
    RegistryError,
    SourceRegistry,
    enable_delta_metric,
    register_metric,
    register_source,
)
from stats_client.collect.errors import DuplicateLabelsError, Reason
from stats_client.collect.sources import PythonSourceRunner


@pytest.fixture
def registry():
    return SourceRegistry(entry_point_group=None)


def runner_for(cls, options=None, fetcher=None):
    instance = cls(options=options or {}, fetcher=fetcher or MemoryFetcher(), timeout_seconds=1.0)
    return PythonSourceRunner("svc", instance, interval=60.0, jitter=0.0)


class Tracker(PythonSource):
    def refresh(self):
        self.answer = self.get_json(self.options["url"], headers={"X-Key": "k"})

    @register_metric("incidents", labels=("team",), help="Incidents ever opened")
    @enable_delta_metric
    def incidents(self):
        return [{"team": t["name"], "metric_value": t["total"]} for t in self.answer["teams"]]

    @register_metric("open_incidents")
    def open_incidents(self):
        return self.answer["open"]

    @register_metric("jobs", labels=("kind",))
    def jobs(self, since, until):
        return [{"kind": "build", "metric_value": (until - since).total_seconds()}]


def test_register_source_adds_the_class_under_its_name(registry):
    register_source("tracker", registry=registry)(Tracker)
    assert registry.get("tracker") is Tracker
    assert Tracker.source_name == "tracker"
    assert registry.names() == ["tracker"]


def test_the_same_name_for_another_class_is_an_error(registry):
    registry.add("tracker", Tracker)
    registry.add("tracker", Tracker)  # the same class again is harmless

    class Other(Tracker):
        pass

    with pytest.raises(RegistryError, match="already registered by Tracker"):
        registry.add("tracker", Other)


def test_an_unknown_name_lists_the_known_ones(registry):
    registry.add("tracker", Tracker)
    with pytest.raises(RegistryError, match=r"no Python source named 'splunk' \(known: tracker\)"):
        registry.get("splunk")


def test_metrics_types_and_windows_come_from_the_decorators():
    metrics = {m.metric.name: m for m in Tracker.collect_metrics()}
    assert metrics["incidents"].metric.type == "counter"
    assert metrics["incidents"].metric.delta is True
    assert metrics["incidents"].metric.label_names == ("team",)
    assert metrics["open_incidents"].metric.type == "gauge"
    assert metrics["jobs"].windowed is True
    assert metrics["incidents"].windowed is False


def test_a_poll_reads_every_metric_once_per_refresh():
    fetcher = MemoryFetcher({"http://t/": {"open": 4, "teams": [{"name": "a", "total": 9}]}})
    runner = runner_for(Tracker, {"url": "http://t/"}, fetcher)
    result = runner.poll()
    assert result.errors == ()
    readings = {r.metric.name: r for r in result.readings}
    assert set(readings) == {"incidents", "open_incidents"}  # the windowed one waits for windows
    assert readings["incidents"].samples == {("a",): 9.0}
    assert readings["open_incidents"].samples == {(): 4.0}
    assert len(fetcher.requests) == 1
    assert fetcher.requests[0].headers == {"X-Key": "k"}
    assert fetcher.requests[0].timeout_seconds == 1.0


def test_duplicate_labels_from_python_are_an_error_naming_everything():
    answer = {"open": 1, "teams": [{"name": "a", "total": 1}, {"name": "a", "total": 2}]}
    runner = runner_for(Tracker, {"url": "http://t/"}, MemoryFetcher({"http://t/": answer}))
    result = runner.poll()
    (error,) = result.errors
    assert isinstance(error, DuplicateLabelsError)
    assert "'svc'" in error.message
    assert "'incidents'" in error.message
    assert "team='a'" in error.message
    assert [r.metric.name for r in result.readings] == ["open_incidents"]


def test_a_raising_source_is_a_counted_failure_not_a_crash():
    class Broken(PythonSource):
        @register_metric("x")
        def x(self):
            raise ZeroDivisionError("boom")

        @register_metric("y")
        def y(self):
            return "not a number"

        @register_metric("z", labels=("k",))
        def z(self):
            return 5

    result = runner_for(Broken).poll()
    assert sorted(e.reason for e in result.errors) == sorted(
        [Reason.COLLECTOR_ERROR, Reason.NOT_NUMERIC, Reason.BAD_RESULT]
    )
    assert "ZeroDivisionError: boom" in result.errors[0].message
    assert result.failed is False


def test_a_failing_refresh_fails_the_whole_poll():
    result = runner_for(Tracker, {"url": "http://nowhere/"}).poll()
    assert result.failed is True
    assert [e.reason for e in result.errors] == [Reason.UNREACHABLE]


def test_malformed_source_classes_are_refused(registry):
    class Empty(PythonSource):
        pass

    with pytest.raises(RegistryError, match="no @register_metric"):
        registry.add("empty", Empty)
    with pytest.raises(RegistryError, match="must match"):
        register_metric("bad-name")
    with pytest.raises(RegistryError, match="runner's own"):
        register_metric("collector_errors_total")
    with pytest.raises(RegistryError, match="reserved"):
        register_metric("m", labels=("value",))

    class GaugeDelta(PythonSource):
        @register_metric("g", type="gauge")
        @enable_delta_metric
        def g(self):
            return 1

    with pytest.raises(RegistryError, match="only a counter"):
        registry.add("g", GaugeDelta)
    with pytest.raises(RegistryError, match="not a PythonSource"):
        registry.add("x", dict)  # type: ignore[arg-type]


def test_entry_points_register_on_first_use(monkeypatch):
    point = importlib.metadata.EntryPoint(
        name="tracker", value=f"{__name__}:Tracker", group="stats_client.collectors"
    )
    monkeypatch.setattr(
        importlib.metadata,
        "entry_points",
        lambda group: [point] if group == "stats_client.collectors" else [],
    )
    registry = SourceRegistry()
    assert registry.names() == ["tracker"]
    assert registry.get("tracker") is Tracker
