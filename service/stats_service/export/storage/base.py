"""The one interface every export storage target implements.

Names are ``/``-separated keys relative to the target's root (a directory or
a bucket prefix). ``put`` takes exactly one of ``dict=`` (stored as JSON;
``{}`` is stored as ``{}``), ``filename=`` or ``fileobj=``, and an object is
visible under its name only once it is complete. ``get`` is a context manager
yielding a temporary local copy that is removed afterwards.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from stats_service.export.errors import StorageError

__all__ = ["Storage", "check_name", "iter_chunks", "json_bytes", "one_source"]


class Storage(Protocol):
    """Where packages, rollups, reports and run state are kept."""

    def put(
        self,
        name: str,
        *,
        dict: dict[str, Any] | None = None,  # the documented keyword
        filename: Path | str | None = None,
        fileobj: IO[bytes] | None = None,
    ) -> None:
        """Store one object; on failure nothing new is visible under ``name``."""

    def get(self, name: str) -> AbstractContextManager[Path]:
        """A temporary local copy of ``name``; ``ObjectNotFound`` when absent."""

    def exists(self, name: str) -> bool:
        """Whether ``name`` is stored."""

    def remove(self, name: str) -> None:
        """Delete ``name``; ``ObjectNotFound`` when absent."""

    def glob(self, pattern: str) -> list[str]:
        """Stored names matching ``pattern`` (``fnmatch``; ``*`` crosses ``/``), sorted."""

    def describe(self) -> str:
        """The target for messages (``dir:/srv/exports``, ``s3://bucket/prefix``), no secrets."""


def check_name(name: str) -> str:
    """``name`` normalised, refused when empty, absolute or climbing out with ``..``."""
    if not name or name.startswith("/") or "\\" in name or "\0" in name:
        raise StorageError(f"object name {name!r} must be a relative key")
    normal = posixpath.normpath(name)
    if normal in (".", "..") or normal.startswith("../") or normal != name.rstrip("/"):
        raise StorageError(f"object name {name!r} must not contain '.', '..' or '//' parts")
    return normal


def json_bytes(value: dict[str, Any]) -> bytes:
    """The JSON stored for ``put(name, dict=value)``."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


def one_source(
    dict_value: dict[str, Any] | None,
    filename: Path | str | None,
    fileobj: IO[bytes] | None,
) -> None:
    """Refuse a ``put`` given none or several of ``dict=``, ``filename=``, ``fileobj=``."""
    given = [x is not None for x in (dict_value, filename, fileobj)]
    if sum(given) != 1:
        raise StorageError("put takes exactly one of dict=, filename= or fileobj=")


def iter_chunks(handle: IO[bytes], size: int = 1024 * 1024) -> Iterator[bytes]:
    """``handle``'s bytes in chunks."""
    while chunk := handle.read(size):
        yield chunk
