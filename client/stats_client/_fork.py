"""Fork safety: gives every tracked object a fresh start in a forked child.

Objects that own locks, threads, queues or sockets register here; in the child
of ``os.fork()`` each one's ``_reset_after_fork()`` runs before any user code,
so no lock copied in a held state and no socket shared with the parent is used
again. Objects also compare ``os.getpid()`` themselves, for forks made from C
that skip Python's fork hooks.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Protocol

__all__ = ["ForkAware", "track"]

_logger = logging.getLogger("stats_client")


class ForkAware(Protocol):
    """Anything that can rebuild its process-local state after a fork."""

    def _reset_after_fork(self) -> None: ...


_tracked: weakref.WeakSet[ForkAware] = weakref.WeakSet()
_install_lock = threading.Lock()
_installed = False


def track(obj: ForkAware) -> None:
    """Call ``obj._reset_after_fork()`` in the child of every later fork."""
    global _installed  # noqa: PLW0603  # one process-wide hook, installed on first use
    with _install_lock:
        if not _installed:
            os.register_at_fork(after_in_child=_after_fork_in_child)
            _installed = True
        _tracked.add(obj)


def _after_fork_in_child() -> None:
    global _install_lock  # noqa: PLW0603  # the parent may have held it while forking
    _install_lock = threading.Lock()
    for obj in list(_tracked):
        try:
            obj._reset_after_fork()
        except Exception:  # a broken object must not break the child
            _logger.exception("stats-client: resetting %r after fork failed", obj)
