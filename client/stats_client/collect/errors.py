"""The exception tree of the collectors, and the reasons a poll can fail::

    CollectError
    ├── ConfigError            a bad config file or source definition (names the key, the line)
    ├── RegistryError          an unknown source name, a clash of names, a bad Python source
    └── PollError              one poll of one source went wrong (carries a Reason)
        └── DuplicateLabelsError   two values for one label set (names source, metric, labels)

A ``PollError`` never leaves the runner: it is counted in
``collector_errors_total{source, reason}`` and logged once per change of state.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

__all__ = [
    "CollectError",
    "ConfigError",
    "DuplicateLabelsError",
    "PollError",
    "Reason",
    "RegistryError",
]


class Reason(enum.StrEnum):
    """Why a poll (or a part of one) failed; the ``reason`` label of the error counter."""

    UNREACHABLE = "unreachable"
    """No HTTP answer: refused, reset, DNS or TLS failure."""
    TIMEOUT = "timeout"
    """The upstream did not answer within ``timeout_seconds``."""
    HTTP_STATUS = "http_status"
    """The upstream answered with a status outside 2xx."""
    NOT_JSON = "not_json"
    """The answer was not JSON."""
    NO_MATCH = "no_match"
    """A metric's ``path`` matched nothing in the answer."""
    NOT_NUMERIC = "not_numeric"
    """A value was not a finite number."""
    MISSING_LABEL = "missing_label"
    """A label's path matched nothing (or a non-scalar) in an item."""
    DUPLICATE_LABELS = "duplicate_labels"
    """Two values for one label set of one metric."""
    BAD_RESULT = "bad_result"
    """A Python metric returned something that is neither a number nor a list of dicts."""
    COLLECTOR_ERROR = "collector_error"
    """A Python source raised an exception."""
    SHIP_FAILED = "ship_failed"
    """A time window could not be shipped to stats-service; its watermark stays."""


class CollectError(Exception):
    """Base of every error of ``stats_client.collect``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(CollectError, ValueError):
    """A config file or source definition is wrong; ``key`` and ``line`` say where."""

    def __init__(self, message: str, *, key: str = "", line: int | None = None) -> None:
        where = key or "config"
        if line is not None:
            where += f" (line {line})"
        super().__init__(f"{where}: {message}")
        self.key = key
        self.line = line
        self.reason = message


class RegistryError(CollectError, LookupError):
    """A source name is unknown or registered twice, or a Python source is malformed."""


class PollError(CollectError):
    """One poll, or one metric of it, failed for ``reason``."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class DuplicateLabelsError(PollError):
    """A metric yielded two values for one label set."""

    def __init__(self, source: str, metric: str, labels: Mapping[str, str]) -> None:
        shown = ", ".join(f"{k}={v!r}" for k, v in sorted(labels.items())) or "(no labels)"
        super().__init__(
            Reason.DUPLICATE_LABELS,
            f"source {source!r}, metric {metric!r}: duplicate label set {{{shown}}}",
        )
        self.source = source
        self.metric = metric
        self.labels = dict(labels)
