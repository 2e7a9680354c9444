"""Watermarks of time-window collectors, and the windows still to collect.

A windowed metric is collected for half-open windows ``[since, until)``.
Its watermark is the ``until`` of the last window shipped successfully; it
moves only after shipping. A window whose shipping failed is *held*: the
next try collects exactly the same window again (its events carry the same
ids, so the service keeps one copy even if the first try got through after
all), then what came after. A gap longer than the cap (``max_window_days``,
28 by default) is cut into consecutive windows of at most the cap, oldest
first.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

__all__ = ["WindowBook", "split_windows"]


def split_windows(
    since: dt.datetime, until: dt.datetime, cap: dt.timedelta
) -> list[tuple[dt.datetime, dt.datetime]]:
    """``[since, until)`` as consecutive windows of at most ``cap``; empty when nothing is due."""
    if cap <= dt.timedelta(0):
        raise ValueError("the window cap must be positive")
    windows = []
    start = since
    while start < until:
        end = min(start + cap, until)
        windows.append((start, end))
        start = end
    return windows


class WindowBook:
    """Watermarks per ``(source, metric)``, kept in the runner's state document."""

    def __init__(
        self, state: dict[str, Any], *, cap: dt.timedelta, lock: threading.RLock | None = None
    ) -> None:
        self._state = state
        self.cap = cap
        self._lock = lock or threading.RLock()

    def watermark(self, source: str, metric: str) -> dt.datetime | None:
        """The end of the last shipped window, or None before the first."""
        with self._lock:
            text = self._state.get("watermarks", {}).get(source, {}).get(metric)
        return None if text is None else dt.datetime.fromisoformat(text)

    def due(
        self, source: str, metric: str, until: dt.datetime, first: dt.timedelta
    ) -> list[tuple[dt.datetime, dt.datetime]]:
        """The windows to collect up to ``until``; the first run looks back ``first``."""
        since = self.watermark(source, metric) or (until - first)
        with self._lock:
            held = self._state.get("held_windows", {}).get(source, {}).get(metric)
        held_until = None if held is None else dt.datetime.fromisoformat(held)
        if held_until is None or not since < held_until <= until:
            return split_windows(since, until, self.cap)
        return split_windows(since, held_until, self.cap) + split_windows(
            held_until, until, self.cap
        )

    def hold(self, source: str, metric: str, until: dt.datetime) -> None:
        """Remember that the window ending at ``until`` failed to ship: retry it as it was."""
        with self._lock:
            held = self._state.setdefault("held_windows", {}).setdefault(source, {})
            held[metric] = until.astimezone(dt.UTC).isoformat()

    def advance(self, source: str, metric: str, until: dt.datetime) -> None:
        """Record that everything before ``until`` was shipped."""
        with self._lock:
            marks = self._state.setdefault("watermarks", {}).setdefault(source, {})
            marks[metric] = until.astimezone(dt.UTC).isoformat()
            held = self._state.get("held_windows", {}).get(source, {})
            if metric in held and dt.datetime.fromisoformat(held[metric]) <= until:
                del held[metric]
