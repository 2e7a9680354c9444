"""Rollups: typed even when empty; group, parquet, regroup merges exactly."""

from __future__ import annotations

import pandas as pd
import pytest

from stats_service.export.errors import ExportError
from stats_service.export.extract import extract
from stats_service.export.rollup import EventsDaily, Measure, Rollup

NS = 10**9
DAY = 86_400 * NS
T0 = 1_793_491_200 * NS  # 2026-11-01T00:00:00Z


def _raw(rows):
    return pd.DataFrame(rows, columns=["time_ns", "event", "identity"])


def test_an_empty_rollup_knows_its_columns_index_and_types():
    frame = EventsDaily().empty()
    assert list(frame.index.names) == ["day", "event", "identity"]
    assert list(frame.columns) == ["count", "first_seen", "last_seen"]
    assert str(frame["count"].dtype) == "int64"
    assert str(frame["first_seen"].dtype) == "datetime64[ns, UTC]"
    rollup = EventsDaily()
    rollup.add_csv(_raw([]))
    assert rollup.group().equals(EventsDaily.empty())
    assert EventsDaily().regroup().equals(EventsDaily.empty())


def test_group_counts_and_first_last_seen_per_day_event_identity():
    rollup = EventsDaily()
    rollup.add_csv(
        _raw(
            [
                (T0 + 5 * NS, "open", "web"),
                (T0 + 9 * NS, "open", "web"),
                (T0 + 7 * NS, "open", "ios"),
                (T0 + DAY + 1, "open", "web"),
            ]
        )
    )
    frame = rollup.group()
    day1 = pd.Timestamp("2026-11-01")
    row = frame.loc[(day1, "open", "web")]
    assert row["count"] == 2
    assert row["first_seen"] == pd.Timestamp(T0 + 5 * NS, unit="ns", tz="UTC")
    assert row["last_seen"] == pd.Timestamp(T0 + 9 * NS, unit="ns", tz="UTC")
    assert frame.loc[(day1, "open", "ios")]["count"] == 1
    assert frame.loc[(pd.Timestamp("2026-11-02"), "open", "web")]["count"] == 1
    assert int(frame["count"].sum()) == 4


def test_regrouping_window_rollups_equals_grouping_everything(
    tmp_path, window, make_events, filled_store, standard_collectors, build_packages
):
    store = filled_store(make_events(3000))
    packages = build_packages(standard_collectors(store), window, tmp_path / "out")
    raw = extract([p.path for p in packages]).frames["events"]
    whole = EventsDaily()
    whole.add_csv(raw)
    expected = whole.group()

    cut = T0 + DAY + DAY // 3  # inside a day: both windows hold rows of that day
    parts = []
    for number, piece in enumerate((raw[raw["time_ns"] < cut], raw[raw["time_ns"] >= cut])):
        rollup = EventsDaily()
        rollup.add_csv(piece)
        rollup.group()
        parts.append(rollup.to_parquet(tmp_path / f"part{number}.parquet"))
    merged = EventsDaily()
    for path in parts:
        merged.add_parquet(path)
    pd.testing.assert_frame_equal(merged.regroup(), expected)


class _Latency(Rollup):
    name = "latency"
    index = (("route", "str"),)
    measures = (
        Measure("requests", "int64", "sum"),
        Measure("mean_ms", "float64", "mean", weight="requests"),
        Measure("max_ms", "float64", "max"),
        Measure("min_ms", "float64", "min"),
    )

    def prepare(self, raw):
        return pd.DataFrame(
            {
                "route": raw["route"],
                "requests": 1,
                "mean_ms": raw["ms"],
                "max_ms": raw["ms"],
                "min_ms": raw["ms"],
            }
        )


def test_means_are_re_weighted_and_min_max_combine():
    first, second = _Latency(), _Latency()
    first.add_csv(pd.DataFrame({"route": ["/a"] * 3, "ms": [1.0, 2.0, 3.0]}))
    second.add_csv(pd.DataFrame({"route": ["/a"], "ms": [10.0]}))
    merged = _Latency()
    merged.add_parquet(first.group())
    merged.add_parquet(second.group())
    row = merged.regroup().loc["/a"]
    assert row["requests"] == 4
    assert row["mean_ms"] == pytest.approx(4.0)  # (1+2+3+10)/4, not (2+10)/2
    assert (row["min_ms"], row["max_ms"]) == (1.0, 10.0)


def test_a_mean_needs_a_weight():
    class Broken(_Latency):
        measures = (Measure("mean_ms", "float64", "mean"),)

        def prepare(self, raw):
            return pd.DataFrame({"route": raw["route"], "mean_ms": raw["ms"]})

    rollup = Broken()
    rollup.add_csv(pd.DataFrame({"route": ["/a"], "ms": [1.0]}))
    with pytest.raises(ExportError, match="needs a weight"):
        rollup.group()


def test_add_parquet_refuses_another_rollup(tmp_path):
    other = _Latency()
    other.add_csv(pd.DataFrame({"route": ["/a"], "ms": [1.0]}))
    other.group()
    path = other.to_parquet(tmp_path / "latency.parquet")
    with pytest.raises(ExportError, match="not a events_daily rollup"):
        EventsDaily().add_parquet(path)


def test_csv_and_json_outputs(tmp_path):
    rollup = EventsDaily()
    rollup.add_csv(_raw([(T0 + 5 * NS, "open", "web")]))
    rollup.group()
    text = rollup.to_csv(tmp_path / "r.csv").read_text()
    assert text.splitlines()[0] == "day,event,identity,count,first_seen,last_seen"
    assert "2026-11-01T00:00:05.000000Z" in text
    records = pd.read_json(tmp_path / "r.json") if rollup.to_json(tmp_path / "r.json") else None
    assert records is not None
    assert records["count"].tolist() == [1]
