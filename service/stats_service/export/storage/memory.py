"""``MemoryStorage``: objects in a dict, for unit tests and failure injection.

``fail_puts_after`` makes the n+1-th ``put`` raise
:class:`~stats_service.export.errors.StorageError` (a full disk, a lost
network) without storing anything, as a real target must.
"""

from __future__ import annotations

import contextlib
import fnmatch
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from stats_service.export.errors import ObjectNotFound, StorageError
from stats_service.export.storage.base import check_name, json_bytes, one_source

__all__ = ["MemoryStorage"]


class MemoryStorage:
    """A :class:`~stats_service.export.storage.base.Storage` held in memory."""

    def __init__(self, *, fail_puts_after: int | None = None) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts = 0
        self.fail_puts_after = fail_puts_after

    def describe(self) -> str:
        """``memory:``."""
        return "memory:"

    def put(
        self,
        name: str,
        *,
        dict: dict[str, Any] | None = None,  # the documented keyword
        filename: Path | str | None = None,
        fileobj: IO[bytes] | None = None,
    ) -> None:
        """Keep a copy; raise without storing once ``fail_puts_after`` puts succeeded."""
        one_source(dict, filename, fileobj)
        key = check_name(name)
        if self.fail_puts_after is not None and self.puts >= self.fail_puts_after:
            raise StorageError(f"cannot write {name} under memory: no space left on device")
        if dict is not None:
            data = json_bytes(dict)
        elif filename is not None:
            data = Path(filename).read_bytes()
        else:
            assert fileobj is not None
            data = fileobj.read()
        self.objects[key] = data
        self.puts += 1

    @contextlib.contextmanager
    def get(self, name: str) -> Iterator[Path]:
        """A temporary file with the object's bytes."""
        key = check_name(name)
        if key not in self.objects:
            raise ObjectNotFound(f"{name} is not stored under memory")
        with tempfile.TemporaryDirectory(prefix="stats-export-get-") as temp:
            path = Path(temp) / key.rsplit("/", 1)[-1]
            path.write_bytes(self.objects[key])
            yield path

    def exists(self, name: str) -> bool:
        """Whether the key is held."""
        return check_name(name) in self.objects

    def remove(self, name: str) -> None:
        """Forget the key."""
        key = check_name(name)
        if key not in self.objects:
            raise ObjectNotFound(f"{name} is not stored under memory")
        del self.objects[key]

    def glob(self, pattern: str) -> list[str]:
        """Held keys matching ``pattern``."""
        return sorted(k for k in self.objects if fnmatch.fnmatchcase(k, pattern))
