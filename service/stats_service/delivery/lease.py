"""The forwarding lease: which process of a service forwards its outbox.

Several worker processes (``uvicorn --workers N``) share one data directory
and so one outbox file. Every worker appends to it, but only one may forward
it: two forwarders would send every batch twice and count it twice. A worker
forwards while it holds the outbox's lease, an exclusive ``flock`` on a file
beside the outbox (``outbox.sqlite3.forwarder-lease``). The others try again
now and then; the kernel drops the lock when its holder exits, however it
exits, so a surviving worker takes over within one try.

:class:`FileLease` is the real lease; :class:`MemoryLease` stands in for it in
tests (leases of one :class:`MemoryLeases` exclude each other by name).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Protocol

__all__ = ["FileLease", "ForwardingLease", "MemoryLease", "MemoryLeases", "lease_path"]


def lease_path(outbox_path: Path) -> Path:
    """The lease file of the outbox at ``outbox_path``."""
    return outbox_path.with_name(outbox_path.name + ".forwarder-lease")


class ForwardingLease(Protocol):
    """An exclusive right, held by at most one holder at a time."""

    @property
    def held(self) -> bool:
        """Whether this holder has it now."""
        ...

    def try_acquire(self) -> bool:
        """Take it if nobody has it (never waits); whether this holder has it now."""
        ...

    def release(self) -> None:
        """Give it up (nothing happens when not held)."""
        ...


class FileLease:
    """A :class:`ForwardingLease` held as an exclusive ``flock`` on ``path``.

    The file is created when missing and never deleted (deleting it would let
    two holders lock two different files). Separate ``FileLease`` objects
    exclude each other even within one process.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        """The lock file."""
        return self._path

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Lock the file unless another holder has it; whether this object holds it."""
        if self._fd is not None:
            return True
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        """Unlock and close the file."""
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class MemoryLeases:
    """A set of named in-memory leases; holders of one name exclude each other."""

    def __init__(self) -> None:
        self.holders: dict[str, MemoryLease] = {}

    def lease(self, name: str = "outbox") -> MemoryLease:
        """A new holder for the lease ``name``."""
        return MemoryLease(self, name)


class MemoryLease:
    """A :class:`ForwardingLease` in memory, for tests."""

    def __init__(self, leases: MemoryLeases, name: str) -> None:
        self._leases = leases
        self._name = name

    @property
    def held(self) -> bool:
        """Whether this holder has it."""
        return self._leases.holders.get(self._name) is self

    def try_acquire(self) -> bool:
        """Take it when free; whether this holder has it."""
        holder = self._leases.holders.setdefault(self._name, self)
        return holder is self

    def release(self) -> None:
        """Give it up when held."""
        if self.held:
            del self._leases.holders[self._name]
