"""The error of an SQLite writer or reader that is not open."""

from __future__ import annotations

from stats_service.errors import ServiceUnavailable

__all__ = ["DatabaseClosedError"]


class DatabaseClosedError(ServiceUnavailable):
    """The writer or reader is not open (never opened, closing, closed or failed)."""
