"""The exceptions of the export chain.

Every one is a :class:`~stats_service.errors.StatsServiceError`, so the
``stats-service`` command prints it as one ``stats-service: ...`` line and
exits non-zero::

    ExportError
    ├── WindowError          naive, reversed or too long a time window
    ├── CollectorError       a collector got bad parameters or could not read
    ├── PackageError         a file over a size limit; a package that cannot be built
    ├── PackageCorrupt       a package that is not a readable tarball or lacks its manifest
    │   └── ChecksumMismatch a member whose sha256 or size differs from the manifest
    ├── StorageError         a storage target failed (names the target, never a secret)
    │   ├── ObjectNotFound   ``get``/``remove`` of a name that is not stored
    │   └── StorageRefused   the target refused us: missing bucket, wrong credentials
    └── ExportLocked         another run of the same job holds the lock
"""

from __future__ import annotations

from stats_service.errors import StatsServiceError

__all__ = [
    "ChecksumMismatch",
    "CollectorError",
    "ExportError",
    "ExportLocked",
    "ObjectNotFound",
    "PackageCorrupt",
    "PackageError",
    "StorageError",
    "StorageRefused",
    "WindowError",
]


class ExportError(StatsServiceError):
    """Base of the export errors."""


class WindowError(ExportError, ValueError):
    """The ``since``/``until`` window is naive, empty, reversed or over the cap."""


class CollectorError(ExportError):
    """A collector was given bad parameters or could not gather its data."""


class PackageError(ExportError):
    """A package cannot be built within its limits (nothing is ever truncated)."""


class PackageCorrupt(ExportError):
    """A package file cannot be read as a package."""


class ChecksumMismatch(PackageCorrupt):
    """A member's content differs from what the manifest records; ``member`` names it."""

    def __init__(self, message: str, *, member: str) -> None:
        super().__init__(message, details={"member": member})
        self.member = member


class StorageError(ExportError):
    """A storage target failed to store, read, list or remove an object."""


class ObjectNotFound(StorageError):
    """No object of that name is stored."""


class StorageRefused(StorageError):
    """The target refused the request: a missing bucket, wrong credentials, no permission."""


class ExportLocked(ExportError):
    """Another run of the same export job is in progress."""
