"""Gauges computed when Prometheus scrapes: build info and the durable outbox's state.

The hot path never updates them: :class:`ScrapeTimeCollector` calls a status
callback once per scrape. A store without an outbox (the embedded store) is
watched through a :class:`StoreSnapshot`: ``stats_backend_up`` and
``stats_deadletters_pending`` then exist too, so every backend exports them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from stats_service.observability.catalogue import CATALOGUE

__all__ = [
    "OutboxGauges",
    "OutboxSnapshot",
    "OutboxStatusSource",
    "ScrapeTimeCollector",
    "StoreSnapshot",
]

logger = logging.getLogger("stats_service.observability")


class OutboxGauges(Protocol):
    """What the scrape-time gauges read from the durable outbox.

    ``stats_service.delivery.queue.OutboxStatus`` has exactly these fields, so
    ``DurableStore.status_sync`` can be watched as it is.
    """

    @property
    def pending_events(self) -> int:
        """Events waiting to be forwarded."""
        ...

    @property
    def pending_bytes(self) -> int:
        """Bytes waiting to be forwarded."""
        ...

    @property
    def max_pending_events(self) -> int:
        """The bound of waiting events (503 beyond it)."""
        ...

    @property
    def max_pending_bytes(self) -> int:
        """The bound of waiting bytes (503 beyond it)."""
        ...

    @property
    def oldest_pending_age_seconds(self) -> float | None:
        """Age of the oldest waiting event; None when nothing waits."""
        ...

    @property
    def dead_letters(self) -> int:
        """Dead letters not yet replayed."""
        ...

    @property
    def backend_ok(self) -> bool | None:
        """Whether the last contact with the backend succeeded; None before any."""
        ...


@dataclass(frozen=True, slots=True)
class OutboxSnapshot:
    """A plain :class:`OutboxGauges` (tests, or adapting another status object)."""

    pending_events: int = 0
    pending_bytes: int = 0
    max_pending_events: int = 1_000_000
    max_pending_bytes: int = 1 << 30
    oldest_pending_age_seconds: float | None = None
    dead_letters: int = 0
    backend_ok: bool | None = None


@dataclass(frozen=True, slots=True)
class StoreSnapshot:
    """The state of a store that keeps events itself, with no outbox (the embedded store).

    Only ``stats_backend_up`` (from ``backend_ok``) and ``stats_deadletters_pending``
    (``dead_letters``: such a store has none) are exported from it.
    """

    backend_ok: bool
    """Whether the store is open and writable."""
    dead_letters: int = 0


OutboxStatusSource = Callable[[], OutboxGauges | StoreSnapshot | None]
"""Called at scrape time: the outbox status, a store's state without an outbox, or None."""


class ScrapeTimeCollector:
    """Build info and the outbox gauges, computed when Prometheus scrapes.

    ``status`` is called once per scrape; if it raises, the outbox gauges are
    left out of that scrape (and the error logged) rather than failing it.
    """

    def __init__(self, *, version: str, status: OutboxStatusSource | None = None) -> None:
        self._version = version
        self.status = status

    def describe(self) -> Iterable[Metric]:
        """The names this collector owns, without calling the status callback."""
        return [
            GaugeMetricFamily(spec.name, spec.doc, labels=spec.labels)
            for spec in CATALOGUE
            if spec.source == "scrape"
        ]

    def collect(self) -> Iterable[Metric]:
        """The current values."""
        docs = {spec.name: spec.doc for spec in CATALOGUE}
        info = GaugeMetricFamily("stats_build_info", docs["stats_build_info"], labels=["version"])
        info.add_metric([self._version], 1.0)
        families: list[Metric] = [info]
        status = self._read_status()
        if status is None:
            return families
        if isinstance(status, StoreSnapshot):
            families.extend(
                GaugeMetricFamily(name, docs[name], value=value)
                for name, value in (
                    ("stats_deadletters_pending", float(status.dead_letters)),
                    ("stats_backend_up", 1.0 if status.backend_ok else 0.0),
                )
            )
            return families
        age = status.oldest_pending_age_seconds
        values_by_name: dict[str, float] = {
            "stats_outbox_depth_events": float(status.pending_events),
            "stats_outbox_bytes": float(status.pending_bytes),
            "stats_outbox_capacity_events": float(status.max_pending_events),
            "stats_outbox_capacity_bytes": float(status.max_pending_bytes),
            "stats_outbox_oldest_age_seconds": max(float(age), 0.0) if age is not None else 0.0,
            "stats_deadletters_pending": float(status.dead_letters),
        }
        if status.backend_ok is not None:
            values_by_name["stats_backend_up"] = 1.0 if status.backend_ok else 0.0
        families.extend(
            GaugeMetricFamily(name, docs[name], value=value)
            for name, value in values_by_name.items()
        )
        return families

    def _read_status(self) -> OutboxGauges | StoreSnapshot | None:
        if self.status is None:
            return None
        try:
            return self.status()
        except Exception:
            logger.exception("the outbox status could not be read for /metrics")
            return None
