"""Run state of an export job: its watermark in the target, and a lock on this machine.

The watermark (``_state/<job>.json`` in the job's storage target) is the end
of the latest window whose packages are all stored; it only moves forward, and
only after every package of a run is stored. :class:`RunLock` is an advisory
``flock`` on ``<data_dir>/export/<job>.lock``: a second run of the same job
fails at once with :class:`~stats_service.export.errors.ExportLocked` instead
of overlapping (the lock goes with the process, so a crash never leaves it
held).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from stats_service.export.errors import ExportError, ExportLocked, ObjectNotFound
from stats_service.export.storage.base import Storage
from stats_service.export.window import iso, parse_instant

__all__ = ["JobState", "RunLock", "check_job_name", "read_state", "state_name", "write_state"]

_JOB_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_job_name(job: str) -> str:
    """``job`` when it is a safe name (letters, digits, ``_.-``; at most 64)."""
    if not _JOB_RE.fullmatch(job):
        raise ExportError(f"export job name {job!r} must be letters, digits, '_', '.' or '-'")
    return job


def state_name(job: str) -> str:
    """The object name of a job's state."""
    return f"_state/{check_job_name(job)}.json"


@dataclass(frozen=True, slots=True)
class JobState:
    """A job's watermark and what its last successful run stored."""

    job: str
    watermark: dt.datetime | None = None
    last_run: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The stored JSON form."""
        return {
            "job": self.job,
            "watermark": iso(self.watermark) if self.watermark else None,
            "last_run": self.last_run,
        }


def read_state(storage: Storage, job: str) -> JobState:
    """The job's state; a job never run has no watermark."""
    try:
        with storage.get(state_name(job)) as path:
            raw = orjson.loads(path.read_bytes())
    except ObjectNotFound:
        return JobState(job=job)
    except orjson.JSONDecodeError:
        raise ExportError(f"the state of export job {job!r} is not JSON") from None
    mark = raw.get("watermark")
    return JobState(
        job=job,
        watermark=parse_instant(mark) if mark else None,
        last_run=dict(raw.get("last_run") or {}),
    )


def write_state(storage: Storage, state: JobState) -> None:
    """Store the job's state (atomically, as every put)."""
    storage.put(state_name(state.job), dict=state.as_dict())


class RunLock:
    """An exclusive, non-blocking ``flock`` held for one run of one job."""

    def __init__(self, data_dir: Path, job: str) -> None:
        self.path = data_dir / "export" / f"{check_job_name(job)}.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise ``ExportLocked``."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ExportLocked(
                f"another run of export job {self.path.stem!r} holds {self.path}"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Let the lock go (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
