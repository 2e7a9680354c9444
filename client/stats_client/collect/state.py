"""Where delta totals and window watermarks survive a restart: a small JSON state file.

Writes are atomic: the new state goes to a temporary file in the same
directory, is flushed and fsynced, then renamed over the old one (and the
directory fsynced), so a crash leaves either the old state or the new one,
never half of each. An unreadable state file stops the runner at start
rather than silently re-counting.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol

from stats_client.collect.errors import ConfigError

__all__ = ["STATE_VERSION", "FileStateStore", "MemoryStateStore", "StateStore"]

STATE_VERSION = 1


class StateStore(Protocol):
    """Loads and saves the runner's state document."""

    def load(self) -> dict[str, Any]:
        """The saved document, or an empty one."""
        ...

    def save(self, state: dict[str, Any]) -> None:
        """Replace the saved document."""
        ...


class MemoryStateStore:
    """Keeps the state in memory (no state file configured, tests, dry runs)."""

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        self.state: dict[str, Any] = json.loads(json.dumps(state or {}))
        self.saves = 0

    def load(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(json.dumps(self.state))
        return loaded

    def save(self, state: dict[str, Any]) -> None:
        self.state = json.loads(json.dumps(state))
        self.saves += 1


class FileStateStore:
    """The state file at ``path``, replaced atomically on every save."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def load(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"cannot read the state file {self.path}: {exc}") from None
        try:
            state = json.loads(text)
        except ValueError:
            raise ConfigError(
                f"the state file {self.path} is not valid JSON; move it away to start afresh"
            ) from None
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ConfigError(f"the state file {self.path} is not a version {STATE_VERSION} state")
        return state

    def save(self, state: dict[str, Any]) -> None:
        data = json.dumps({**state, "version": STATE_VERSION}, sort_keys=True).encode()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                Path(tmp).replace(self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
