"""``series_hash`` caches recent series without changing a single hash."""

from __future__ import annotations

import pytest

from stats_service.storage.influx import series
from stats_service.storage.influx.series import series_hash


@pytest.mark.parametrize(
    ("measurement", "tags"),
    [
        ("m", {}),
        ("m", {"a": "1", "b": "2"}),
        ("m", {"a": "1", "b": ""}),
        ("other", {"event": "x", "identity": "bob"}),
    ],
    ids=["no-tags", "two-tags", "empty-tag", "other"],
)
def test_cached_hash_equals_the_computed_one(measurement: str, tags: dict[str, str]) -> None:
    expected = series._series_hash(measurement, tags)
    assert series_hash(measurement, tags) == expected
    assert series_hash(measurement, dict(tags)) == expected  # second time, from the cache


def test_tag_order_and_empty_tags_do_not_change_the_series() -> None:
    first = series_hash("m", {"a": "1", "b": "2"})
    assert series_hash("m", {"b": "2", "a": "1"}) == first
    assert series_hash("m", {"b": "2", "c": "", "a": "1"}) == first
    assert series_hash("m", {"a": "1", "b": "3"}) != first
    assert series_hash("n", {"a": "1", "b": "2"}) != first


def test_the_cache_is_bounded() -> None:
    for number in range(series._SERIES_CACHE_MAX + 10):
        series_hash("m", {"n": str(number)})
    assert len(series._series_cache) <= series._SERIES_CACHE_MAX
