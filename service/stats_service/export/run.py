"""One export run: a window of events packaged, stored, and the watermark moved.

:func:`run_export` holds the job's lock, builds the packages of the window
(``config``, ``event_counts`` and ``events`` collectors), stores each as soon
as it is built, removes packages of the same window that an earlier run left
beyond the new count, and only then advances the watermark. A failure
anywhere removes the packages this run created (those that were not stored
before it) and leaves the watermark as it was.

Package names are ``<job>-<since>-<until>-<nnnn>.tar.gz``, and the packages
are byte-identical for the same data and settings (the status times are the
window's end; the wall-clock times of the run are in the job's state), so
re-running a window stores the same names with the same sha256.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stats_service.export.collect import config, event_counts, events
from stats_service.export.errors import ExportError
from stats_service.export.package import Package, PackageLimits
from stats_service.export.progress import Progress
from stats_service.export.state import JobState, RunLock, check_job_name, read_state, write_state
from stats_service.export.storage.base import Storage
from stats_service.export.window import Window, iso
from stats_service.settings import Settings
from stats_service.storage.base import EventStore

__all__ = ["RunResult", "StoredPackage", "package_names", "package_window", "run_export"]

_SLUG = r"(\d{8}T\d{6}(?:\.\d{6})?Z)"


@dataclass(frozen=True, slots=True)
class StoredPackage:
    """One package a run stored."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a run did."""

    job: str
    window: Window
    packages: list[StoredPackage]
    events: int
    removed: list[str]
    watermark_before: dt.datetime | None
    watermark: dt.datetime | None
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (what ``export run --json`` prints)."""
        return {
            "job": self.job,
            "since": iso(self.window.since),
            "until": iso(self.window.until),
            "events": self.events,
            "packages": [_as_dict(p) for p in self.packages],
            "removed": self.removed,
            "watermark_before": iso(self.watermark_before) if self.watermark_before else None,
            "watermark": iso(self.watermark) if self.watermark else None,
            "seconds": round(self.seconds, 3),
        }


def _as_dict(package: StoredPackage) -> dict[str, Any]:
    return {"name": package.name, "sha256": package.sha256, "size": package.size}


def package_names(storage: Storage, job: str, window: Window | None = None) -> list[str]:
    """Stored package names of ``job`` (of one window when given), in order."""
    middle = window.slug() if window is not None else "*"
    return storage.glob(f"{check_job_name(job)}-{middle}-[0-9][0-9][0-9][0-9].tar.gz")


def package_window(job: str, name: str) -> Window | None:
    """The window a package name encodes, or None when it is not one of ``job``'s."""
    found = re.fullmatch(re.escape(job) + rf"-{_SLUG}-{_SLUG}-\d{{4}}\.tar\.gz", name)
    if found is None:
        return None
    since, until = (_from_compact(found.group(i)) for i in (1, 2))
    return Window(since, until)


def _from_compact(text: str) -> dt.datetime:
    fmt = "%Y%m%dT%H%M%S.%fZ" if "." in text else "%Y%m%dT%H%M%SZ"
    return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC)


async def run_export(
    *,
    store: EventStore,
    storage: Storage,
    settings: Settings,
    window: Window,
    job: str,
    measurement: str | None = None,
    limits: PackageLimits | None = None,
    progress: Progress | None = None,
    work_dir: Path | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> RunResult:
    """Export ``window`` of ``store`` to ``storage`` as job ``job`` (see the module doc)."""
    check_job_name(job)
    wall = clock or (lambda: dt.datetime.now(dt.UTC))
    started = time.monotonic()
    with RunLock(settings.data_dir, job):
        before = await asyncio.to_thread(package_names, storage, job, window)
        state = await asyncio.to_thread(read_state, storage, job)
        collector = events(store, measurement, on_page=progress.events if progress else None)
        package = Package(
            [config(settings), event_counts(store, measurement), collector],
            window=window,
            limits=limits
            or PackageLimits(
                max_package_bytes=settings.export_max_package_bytes,
                max_file_bytes=settings.export_max_file_bytes,
            ),
            name_prefix=job,
            clock=lambda: window.until,
        )
        stored: list[StoredPackage] = []
        created: list[str] = []
        temp = Path(tempfile.mkdtemp(prefix="stats-export-", dir=work_dir))
        try:
            async for built in package.build(temp):
                if built.name not in before:
                    created.append(built.name)
                await asyncio.to_thread(storage.put, built.name, filename=built.path)
                built.path.unlink()
                stored.append(StoredPackage(built.name, built.sha256, built.size))
                if progress is not None:
                    progress.stored(built.name, built.size)
            names = {p.name for p in stored}
            stale = [name for name in before if name not in names]
            mark = state.watermark
            watermark = window.until if mark is None or window.until > mark else mark
            result = RunResult(
                job=job,
                window=window,
                packages=stored,
                events=getattr(collector, "rows", 0),
                removed=stale,
                watermark_before=mark,
                watermark=watermark,
                seconds=time.monotonic() - started,
            )
            record = {**result.as_dict(), "finished_at": iso(wall())}
            await asyncio.to_thread(
                write_state, storage, JobState(job=job, watermark=watermark, last_run=record)
            )
        except BaseException:
            await asyncio.to_thread(_remove_quietly, storage, created)
            raise
        finally:
            shutil.rmtree(temp, ignore_errors=True)
        for name in stale:  # left by an earlier run of this window that made more packages
            await asyncio.to_thread(storage.remove, name)
    return result


def _remove_quietly(storage: Storage, names: list[str]) -> None:
    for name in names:
        try:
            if storage.exists(name):
                storage.remove(name)
        except ExportError:
            continue
