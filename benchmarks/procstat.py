"""Measures a server's CPU time and resident memory from ``/proc`` while load runs.

A :class:`ProcessTreeSampler` covers the process and its descendants (uvicorn
worker processes), reading ``utime + stime`` at start and stop and sampling
``VmRSS`` on a background thread.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.report import (
    parse_proc_stat_cpu_ticks,
    parse_proc_stat_ppid,
    parse_proc_status_rss_kib,
)

__all__ = ["ProcessTreeSampler", "ProcessUsage", "process_tree", "tree_rss_bytes"]

_PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class ProcessUsage:
    """CPU seconds used and RSS samples (seconds since start, bytes) of one interval."""

    cpu_seconds: float
    wall_seconds: float
    rss_samples: tuple[tuple[float, int], ...]

    @property
    def max_rss_bytes(self) -> int:
        """The largest sampled RSS (0 without samples)."""
        return max((rss for _, rss in self.rss_samples), default=0)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:  # the process ended between listing and reading
        return None


def process_tree(pid: int, proc: Path = _PROC) -> list[int]:
    """``pid`` and all its living descendants."""
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        text = _read(entry / "stat")
        if text is None:
            continue
        try:
            children.setdefault(parse_proc_stat_ppid(text), []).append(int(entry.name))
        except ValueError:
            continue
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def _cpu_ticks(pids: list[int], proc: Path) -> dict[int, int]:
    ticks = {}
    for pid in pids:
        text = _read(proc / str(pid) / "stat")
        if text is not None:
            ticks[pid] = parse_proc_stat_cpu_ticks(text)
    return ticks


def tree_rss_bytes(pids: list[int], proc: Path = _PROC) -> int:
    """The summed ``VmRSS`` of these processes, in bytes."""
    total = 0
    for pid in pids:
        text = _read(proc / str(pid) / "status")
        if text is not None:
            total += parse_proc_status_rss_kib(text) * 1024
    return total


class ProcessTreeSampler:
    """CPU time and RSS of a process tree between ``start()`` and ``stop()``."""

    def __init__(
        self,
        pid: int,
        *,
        interval_seconds: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        proc: Path = _PROC,
    ) -> None:
        self._pid = pid
        self._interval = interval_seconds
        self._clock = clock
        self._proc = proc
        self._clk_tck = os.sysconf("SC_CLK_TCK")
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_at = 0.0
        self._start_ticks: dict[int, int] = {}
        self._samples: list[tuple[float, int]] = []

    def start(self) -> None:
        """Read the CPU counters and start sampling RSS."""
        pids = process_tree(self._pid, self._proc)
        self._started_at = self._clock()
        self._start_ticks = _cpu_ticks(pids, self._proc)
        self._samples = []
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> ProcessUsage:
        """Stop sampling; the CPU used since ``start()`` and the RSS samples."""
        stopped_at = self._clock()
        end_ticks = _cpu_ticks(process_tree(self._pid, self._proc), self._proc)
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        used = sum(max(t - self._start_ticks.get(pid, 0), 0) for pid, t in end_ticks.items())
        return ProcessUsage(
            cpu_seconds=used / self._clk_tck,
            wall_seconds=stopped_at - self._started_at,
            rss_samples=tuple(self._samples),
        )

    def _run(self) -> None:
        pids = process_tree(self._pid, self._proc)
        while True:
            now = self._clock()
            self._samples.append((now - self._started_at, tree_rss_bytes(pids, self._proc)))
            if self._stopping.wait(self._interval):
                return
