"""JSONPath extraction: items, labels from parents, and each bad-input case with its reason."""

from __future__ import annotations

import pytest

from stats_client.collect.errors import DuplicateLabelsError, PollError, Reason
from stats_client.collect.extract import (
    MetricExtraction,
    compile_label_path,
    compile_path,
    extract,
)
from stats_client.collect.model import MetricDef

ANSWER = {
    "total": 1234,
    "teams": [
        {"name": "payments", "stacks": [{"env": "prd", "open": 3}, {"env": "sbx", "open": "1"}]},
        {"name": "search", "stacks": [{"env": "prd", "open": 0}]},
    ],
}


def spec(kind="gauge", path="$.teams[*].stacks", labels=None, value="open", **extra):
    labels = {"team": "^.name", "env": "env"} if labels is None else labels
    metric = MetricDef("m", kind, "help", tuple(labels), **extra)
    return MetricExtraction(
        metric,
        compile_path(path),
        tuple(compile_label_path(name, text) for name, text in labels.items()),
        compile_path(value) if value else None,
    )


def test_items_with_labels_from_the_item_and_its_parent():
    reading, skipped = extract("src", spec(), ANSWER)
    assert skipped == []
    assert reading.samples == {
        ("payments", "prd"): 3.0,
        ("payments", "sbx"): 1.0,
        ("search", "prd"): 0.0,
    }


def test_a_single_value_without_labels():
    reading, _ = extract("src", spec("counter", "$.total", {}, None), ANSWER)
    assert reading.samples == {(): 1234.0}


def test_a_label_from_the_root():
    labels = {"env": "env", "first": "$.teams[0].name"}
    reading, _ = extract("src", spec(labels=labels, path="$.teams[1].stacks"), ANSWER)
    assert reading.samples == {("prd", "payments"): 0.0}


def test_an_empty_list_is_zero_series_not_an_error():
    reading, skipped = extract("src", spec(path="$.items", labels={}), {"items": []})
    assert (reading.samples, skipped) == ({}, [])


def test_a_path_that_matches_nothing_fails_the_metric():
    with pytest.raises(PollError) as caught:
        extract("src", spec(path="$.nothing"), ANSWER)
    assert caught.value.reason is Reason.NO_MATCH


def test_items_with_a_missing_label_or_a_non_numeric_value_are_skipped_and_counted():
    answer = {
        "items": [{"k": "a", "v": 1}, {"v": 2}, {"k": "c", "v": "lots"}, {"k": {"x": 1}, "v": 4}]
    }
    reading, skipped = extract("src", spec(path="$.items", labels={"k": "k"}, value="v"), answer)
    assert reading.samples == {("a",): 1.0}
    assert [e.reason for e in skipped] == [
        Reason.MISSING_LABEL,
        Reason.NOT_NUMERIC,
        Reason.MISSING_LABEL,
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(3, 3.0), (2.5, 2.5), ("7", 7.0), (True, 1.0), (False, 0.0)],
    ids=["int", "float", "numeric-string", "true", "false"],
)
def test_values_that_are_numbers(raw, expected):
    reading, _ = extract("src", spec("gauge", "$.x", {}, None), {"x": raw})
    assert reading.samples == {(): expected}


@pytest.mark.parametrize("raw", [None, "NaN", "inf", {"a": 1}, "twelve"], ids=str)
def test_values_that_are_not(raw):
    reading, skipped = extract("src", spec("gauge", "$.x", {}, None), {"x": raw})
    assert reading.samples == {}
    assert [e.reason for e in skipped] == [Reason.NOT_NUMERIC]


def test_a_duplicate_label_set_names_source_metric_and_labels():
    answer = {"items": [{"k": "a", "v": 1}, {"k": "a", "v": 2}]}
    with pytest.raises(DuplicateLabelsError) as caught:
        extract("tracker", spec(path="$.items", labels={"k": "k"}, value="v"), answer)
    assert caught.value.reason is Reason.DUPLICATE_LABELS
    assert caught.value.labels == {"k": "a"}
    assert "'tracker'" in str(caught.value)
    assert "'m'" in str(caught.value)
    assert "k='a'" in str(caught.value)


def test_histograms_group_observations_by_label_set():
    answer = {"r": [{"t": "a", "m": 1}, {"t": "a", "m": 30}, {"t": "b", "m": 5}]}
    reading, _ = extract("src", spec("histogram", "$.r", {"t": "t"}, "m"), answer)
    assert reading.observations == {("a",): (1.0, 30.0), ("b",): (5.0,)}


def test_bad_paths_do_not_compile():
    with pytest.raises(ValueError, match="JSONPath"):
        compile_path("$.[[[")
    with pytest.raises(ValueError, match="non-empty"):
        compile_label_path("x", " ")
    assert compile_label_path("x", "^^.name").up == 2
    assert compile_label_path("x", "^").expr is None
