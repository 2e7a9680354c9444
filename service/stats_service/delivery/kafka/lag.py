"""What the Kafka queue reports: produce errors, produce latency, dead letters, lag.

:class:`KafkaMetrics` is the small protocol the queue reports to
(``observability.recorder.Metrics`` implements it); :class:`NoKafkaMetrics`
drops everything. Lag is messages behind the high watermark, per partition
this member holds, refreshed after every settlement.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

__all__ = ["KafkaMetrics", "NoKafkaMetrics"]


class KafkaMetrics(Protocol):
    """Counters and gauges of the Kafka queue."""

    def produce_error(self, kind: str) -> None:
        """A produce failed: ``timeout``, ``broker`` or ``queue_full``."""

    def produced(self, count: int, seconds: float) -> None:
        """``count`` events were acknowledged after ``seconds``."""

    def dead_lettered(self, count: int) -> None:
        """``count`` events went to the dead-letter topic."""

    def lag(self, per_partition: Mapping[int, int]) -> None:
        """Messages behind the high watermark per held partition."""


class NoKafkaMetrics:
    """A :class:`KafkaMetrics` that records nothing."""

    def produce_error(self, kind: str) -> None:
        pass

    def produced(self, count: int, seconds: float) -> None:
        pass

    def dead_lettered(self, count: int) -> None:
        pass

    def lag(self, per_partition: Mapping[int, int]) -> None:
        pass
