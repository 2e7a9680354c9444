"""``DirectoryStorage``: objects as files under a base directory.

A ``put`` writes a temporary file in the destination directory, fsyncs it,
renames it over the name and fsyncs the directory, so a reader sees the old
object or the whole new one, never part of it; a failure (a full disk) leaves
nothing new behind.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from stats_service.export.errors import ObjectNotFound, StorageError
from stats_service.export.storage.base import check_name, iter_chunks, json_bytes, one_source

__all__ = ["DirectoryStorage"]

_TEMP_PREFIX = ".tmp-"


class DirectoryStorage:
    """A :class:`~stats_service.export.storage.base.Storage` under ``base_path``."""

    def __init__(self, base_path: Path | str) -> None:
        self._base = Path(base_path)

    @property
    def base_path(self) -> Path:
        """The root directory."""
        return self._base

    def describe(self) -> str:
        """``dir:<base path>``."""
        return f"dir:{self._base}"

    def _path(self, name: str) -> Path:
        return self._base / check_name(name)

    def put(
        self,
        name: str,
        *,
        dict: dict[str, Any] | None = None,  # the documented keyword
        filename: Path | str | None = None,
        fileobj: IO[bytes] | None = None,
    ) -> None:
        """Write atomically (temporary file, fsync, rename, fsync of the directory)."""
        one_source(dict, filename, fileobj)
        path = self._path(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=path.parent)
        except OSError as exc:
            raise StorageError(f"cannot write {name} under {self.describe()}: {exc}") from None
        try:
            with os.fdopen(fd, "wb") as out:
                if dict is not None:
                    out.write(json_bytes(dict))
                elif filename is not None:
                    with Path(filename).open("rb") as src:
                        shutil.copyfileobj(src, out, 1024 * 1024)
                else:
                    assert fileobj is not None
                    for chunk in iter_chunks(fileobj):
                        out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            Path(temp).chmod(0o644)  # mkstemp made it 0600
            Path(temp).replace(path)
            _fsync_dir(path.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)  # noqa: PTH108 - the path is a str from mkstemp
            raise StorageError(f"cannot write {name} under {self.describe()}: {exc}") from None

    @contextlib.contextmanager
    def get(self, name: str) -> Iterator[Path]:
        """A temporary copy of the file, removed after the block."""
        path = self._path(name)
        if not path.is_file():
            raise ObjectNotFound(f"{name} is not stored under {self.describe()}")
        with tempfile.TemporaryDirectory(prefix="stats-export-get-") as temp:
            copy = Path(temp) / path.name
            try:
                shutil.copyfile(path, copy)
            except OSError as exc:
                raise StorageError(f"cannot read {name} under {self.describe()}: {exc}") from None
            yield copy

    def exists(self, name: str) -> bool:
        """Whether the file is there."""
        return self._path(name).is_file()

    def remove(self, name: str) -> None:
        """Delete the file."""
        try:
            self._path(name).unlink()
        except FileNotFoundError:
            raise ObjectNotFound(f"{name} is not stored under {self.describe()}") from None
        except OSError as exc:
            raise StorageError(f"cannot remove {name} under {self.describe()}: {exc}") from None

    def glob(self, pattern: str) -> list[str]:
        """Stored names matching ``pattern``; temporary files are never listed."""
        if not self._base.is_dir():
            return []
        names = []
        for path in self._base.rglob("*"):
            if path.is_file() and not path.name.startswith(_TEMP_PREFIX):
                relative = path.relative_to(self._base).as_posix()
                if fnmatch.fnmatchcase(relative, pattern):
                    names.append(relative)
        return sorted(names)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
