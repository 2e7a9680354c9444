"""The latency histogram: fixed buckets, exact merges, quantiles within the stated error."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stats_service.monitors.histogram import GAMMA, RELATIVE_ERROR, LatencyHistogram, bucket_of


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def test_the_stated_error_is_about_one_percent():
    assert pytest.approx(0.0099, abs=1e-4) == RELATIVE_ERROR


@given(st.floats(min_value=1.0001, max_value=1e9))
def test_a_value_lies_inside_its_bucket(value):
    index = bucket_of(value)
    assert GAMMA ** (index - 1) * (1 - 1e-9) <= value <= GAMMA**index * (1 + 1e-9)


@given(
    st.lists(st.floats(min_value=1, max_value=6e7), min_size=1, max_size=300),
    st.sampled_from([0.0, 0.5, 0.9, 0.95, 0.99, 1.0]),
)
def test_quantiles_are_within_the_relative_error(values, q):
    estimate = LatencyHistogram.of(values).quantile(q)
    exact = nearest_rank(values, q)
    assert estimate is not None
    assert abs(estimate - exact) <= RELATIVE_ERROR * exact * (1 + 1e-9)


def test_merging_equals_one_histogram_of_everything():
    rng = random.Random(7)
    values = [rng.lognormvariate(9, 1) for _ in range(2000)]
    merged = LatencyHistogram()
    for start in range(0, 2000, 100):
        merged.merge(LatencyHistogram.of(values[start : start + 100]))
    assert merged.counts == LatencyHistogram.of(values).counts
    assert merged.total == 2000


def test_json_round_trip_and_empty_quantile():
    histogram = LatencyHistogram.of([10, 10, 5000])
    assert LatencyHistogram.from_json(histogram.to_json()).counts == histogram.counts
    assert LatencyHistogram().quantile(0.5) is None
    with pytest.raises(ValueError, match="within"):
        histogram.quantile(1.5)


def test_sub_microsecond_latencies_count_as_one_microsecond():
    assert LatencyHistogram.of([0, 0.5]).quantile(0.5) == 1.0


@given(st.dictionaries(st.integers(0, 2000), st.integers(1, 10**9), max_size=200))
def test_the_compact_encoding_round_trips(counts):
    histogram = LatencyHistogram(counts)
    assert LatencyHistogram.from_bytes(histogram.to_bytes()).counts == histogram.counts
