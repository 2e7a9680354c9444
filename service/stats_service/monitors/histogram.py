"""A mergeable latency histogram with fixed, log-spaced buckets.

Bucket ``i`` holds latencies in ``(GAMMA**(i-1), GAMMA**i]`` microseconds, so
every histogram uses the same boundaries and two histograms merge by adding
their counts: exactly, in any order. A quantile is read as the bucket's
representative ``2 * GAMMA**i / (GAMMA + 1)``, whose relative error against
any value in that bucket is at most ``RELATIVE_ERROR`` (1 %), the DDSketch
bound. Latencies below 1 µs count as 1 µs.

Quantiles use the nearest-rank definition: the ``ceil(q * n)``-th smallest value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

__all__ = ["GAMMA", "RELATIVE_ERROR", "LatencyHistogram", "bucket_of"]

GAMMA = 1.02
"""Ratio between consecutive bucket boundaries."""

RELATIVE_ERROR = (GAMMA - 1) / (GAMMA + 1)
"""Largest relative error of a quantile read from the histogram (~0.99 %)."""

_LOG_GAMMA = math.log(GAMMA)


def bucket_of(latency_us: float) -> int:
    """The index of the bucket that holds ``latency_us``."""
    if latency_us <= 1:
        return 0
    return math.ceil(math.log(latency_us) / _LOG_GAMMA - 1e-12)


class LatencyHistogram:
    """Counts per bucket index; sparse, so an idle monitor costs nothing."""

    __slots__ = ("counts",)

    def __init__(self, counts: Mapping[int, int] | None = None) -> None:
        self.counts: dict[int, int] = {k: v for k, v in (counts or {}).items() if v}

    @classmethod
    def of(cls, latencies_us: Iterable[float]) -> LatencyHistogram:
        """A histogram of these latencies."""
        histogram = cls()
        for value in latencies_us:
            histogram.add(value)
        return histogram

    @property
    def total(self) -> int:
        """How many latencies were added."""
        return sum(self.counts.values())

    def add(self, latency_us: float, count: int = 1) -> None:
        """Count one latency (``count`` times)."""
        index = bucket_of(latency_us)
        self.counts[index] = self.counts.get(index, 0) + count

    def merge(self, other: LatencyHistogram) -> None:
        """Add another histogram's counts into this one."""
        for index, count in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + count

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile in microseconds (``None`` when empty), within ``RELATIVE_ERROR``."""
        if not 0 <= q <= 1:
            raise ValueError("q must be within [0, 1]")
        total = self.total
        if total == 0:
            return None
        rank = max(1, math.ceil(q * total))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return 1.0 if index == 0 else 2 * GAMMA**index / (GAMMA + 1)
        raise AssertionError("unreachable: rank is at most the total")

    def to_bytes(self) -> bytes:
        """A compact encoding: varints of (index gap, count) pairs in index order.

        About two bytes per occupied bucket; what the stores keep.
        """
        out = bytearray()
        previous = 0
        for index in sorted(self.counts):
            _varint(out, index - previous)
            _varint(out, self.counts[index])
            previous = index
        return bytes(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> LatencyHistogram:
        """The inverse of :meth:`to_bytes`."""
        counts: dict[int, int] = {}
        position, index = 0, 0
        while position < len(data):
            gap, position = _read_varint(data, position)
            count, position = _read_varint(data, position)
            index += gap
            counts[index] = count
        return cls(counts)

    def to_json(self) -> dict[str, int]:
        """Bucket index (as a string key) to count, for JSON columns."""
        return {str(index): count for index, count in sorted(self.counts.items())}

    @classmethod
    def from_json(cls, data: Mapping[str, int]) -> LatencyHistogram:
        """The inverse of :meth:`to_json`."""
        return cls({int(index): int(count) for index, count in data.items()})

    def __repr__(self) -> str:
        return f"LatencyHistogram(total={self.total}, buckets={len(self.counts)})"


def _varint(out: bytearray, value: int) -> None:
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
