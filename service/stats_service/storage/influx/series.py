"""What InfluxDB calls a series, and so which events would overwrite each other.

InfluxDB keeps one point per series (the measurement plus its non-empty tags)
and timestamp: a second distinct event with both the same would silently
replace the first. The durable queue in front of the InfluxDB backends keeps
``(series_hash, time_ns)`` unique over its dedupe window, moving a later
event's time forward by the fewest nanoseconds that make it unique (see
:mod:`stats_service.delivery.outbox`); this module says what the series is.
"""

from __future__ import annotations

import hashlib

__all__ = ["series_hash"]

_SERIES_CACHE_MAX = 8192
_series_cache: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
"""Hashes of recently seen series, keyed by measurement and tags in their order."""


def series_hash(measurement: str, tags: dict[str, str]) -> int:
    """A stable signed 64-bit hash of a series: the measurement and its non-empty tags.

    InfluxDB identifies a series by exactly these (empty tag values are never
    written). The hash is the same in every process and across restarts.
    Series repeat a lot, so recent ones are cached.
    """
    key = (measurement, tuple(tags.items()))
    cached = _series_cache.get(key)
    if cached is None:
        cached = _series_hash(measurement, tags)
        if len(_series_cache) >= _SERIES_CACHE_MAX:
            _series_cache.clear()
        _series_cache[key] = cached
    return cached


def _series_hash(measurement: str, tags: dict[str, str]) -> int:
    parts = [measurement]
    for key in sorted(tags):
        value = tags[key]
        if value:
            parts.append(key)
            parts.append(value)
    digest = hashlib.blake2b(
        "\x00".join(parts).encode("utf-8", "surrogatepass"), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True)
