"""Deltas of upstream running totals, per label set, that survive restarts.

For each ``(source, metric, label set)`` the tracker remembers the last
total. The next total gives the increase; a total below the last one is a
counter reset and the new total is the increase; a label set never seen
before only sets the baseline (no spike on the first poll). Totals persist
through a :class:`~stats_client.collect.state.StateStore`, so a restart
continues from the last poll rather than from zero.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from stats_client.collect.model import LabelValues, Reading
from stats_client.collect.state import StateStore

__all__ = ["Delta", "DeltaTracker"]


@dataclass(frozen=True, slots=True)
class Delta:
    """The increase of one label set's total since the previous poll."""

    labels: LabelValues
    increase: float
    total: float
    reset: bool


class DeltaTracker:
    """Turns totals into increases; ``commit`` makes them durable."""

    def __init__(self, store: StateStore, state: dict[str, Any] | None = None) -> None:
        self._store = store
        self._state: dict[str, Any] = state if state is not None else store.load()
        self._lock = threading.RLock()

    @property
    def state(self) -> dict[str, Any]:
        """The whole state document (shared with the window book)."""
        return self._state

    @property
    def lock(self) -> threading.RLock:
        """Guards the state document; whoever else changes it takes this lock too."""
        return self._lock

    def deltas(self, source: str, reading: Reading) -> list[Delta]:
        """The non-zero increases of ``reading`` (a delta counter); updates the totals."""
        out: list[Delta] = []
        with self._lock:
            totals = self._state.setdefault("totals", {})
            known: dict[str, float] = totals.setdefault(source, {}).setdefault(
                reading.metric.name, {}
            )
            for labels, total in reading.samples.items():
                key = json.dumps(list(labels))
                previous = known.get(key)
                known[key] = total
                if previous is None:
                    continue
                reset = total < previous
                increase = total if reset else total - previous
                if increase:
                    out.append(Delta(labels, increase, total, reset))
        return out

    def commit(self) -> None:
        """Save the totals (and everything else in the state document)."""
        with self._lock:
            snapshot = json.loads(json.dumps(self._state))
        self._store.save(snapshot)
