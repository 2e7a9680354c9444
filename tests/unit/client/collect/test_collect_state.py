"""The state file: atomic replacement, refusal of a corrupt file, the delta tracker over it."""

from __future__ import annotations

import json
import os

import pytest

from stats_client.collect import ConfigError, FileStateStore
from stats_client.collect.delta import DeltaTracker
from stats_client.collect.model import MetricDef, Reading

COUNTER = MetricDef("incidents", "counter", "h", ("team",), delta=True)


def reading(**totals: float) -> Reading:
    return Reading(COUNTER, samples={(team,): total for team, total in totals.items()})


def test_a_missing_file_is_an_empty_state(tmp_path):
    assert FileStateStore(tmp_path / "none.json").load() == {}


def test_saves_replace_the_file_atomically_and_leave_no_temporaries(tmp_path):
    path = tmp_path / "sub" / "state.json"
    store = FileStateStore(path)
    store.save({"totals": {"a": 1}})
    inode = path.stat().st_ino
    store.save({"totals": {"a": 2}})
    assert path.stat().st_ino != inode  # a new file renamed over the old, not rewritten in place
    assert json.loads(path.read_text()) == {"totals": {"a": 2}, "version": 1}
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]


def test_a_failed_write_keeps_the_old_state(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    store = FileStateStore(path)
    store.save({"totals": {"a": 1}})

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        store.save({"totals": {"a": 2}})
    assert store.load()["totals"] == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


@pytest.mark.parametrize(
    "content", ["{not json", "[]", '{"version": 99}'], ids=["garbage", "a-list", "future-version"]
)
def test_a_bad_state_file_stops_the_start_with_a_clear_message(tmp_path, content):
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=r"state file .*state\.json"):
        FileStateStore(path).load()


def test_the_tracker_resumes_from_the_file(tmp_path):
    path = tmp_path / "state.json"
    tracker = DeltaTracker(FileStateStore(path))
    assert tracker.deltas("src", reading(a=10, b=3)) == []
    tracker.commit()
    resumed = DeltaTracker(FileStateStore(path))
    moved = resumed.deltas("src", reading(a=14, b=1))
    assert [(d.labels, d.increase, d.reset) for d in moved] == [
        (("a",), 4.0, False),
        (("b",), 1.0, True),
    ]
