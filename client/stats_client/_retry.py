"""The single retry policy: which answers are retried, split or final, and how long to wait.

Pure: no sleeping and no clock reads here. Callers pass the jitter source and
the current time, so tests check every rule without waiting.
"""

from __future__ import annotations

import email.utils
import enum
import math
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Decision", "RetryPolicy", "classify", "parse_retry_after"]

_NOT_RETRIED_5XX = frozenset({501, 505})
_RETRIED_4XX = frozenset({408, 429})


class Decision(enum.Enum):
    """What to do with a batch after one attempt."""

    DONE = "done"
    """2xx: the service took the batch (individual items may still be rejected)."""
    RETRY = "retry"
    """Network error, 408, 429, 5xx except 501/505: send the same batch again later."""
    SPLIT = "split"
    """413: send each half on its own (a single event is dropped as too large)."""
    FAIL = "fail"
    """Any other status: report it and drop the batch without retrying."""


def classify(status: int | None) -> Decision:
    """The decision for an HTTP ``status``; None stands for a network error."""
    if status is None:
        return Decision.RETRY
    if 200 <= status < 300:
        return Decision.DONE
    if status == 413:
        return Decision.SPLIT
    if status in _RETRIED_4XX or (500 <= status < 600 and status not in _NOT_RETRIED_5XX):
        return Decision.RETRY
    return Decision.FAIL


def parse_retry_after(value: str | None, *, now_seconds: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - now_seconds
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(seconds, 0.0)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped, jittered exponential backoff with an optional retry limit."""

    initial_backoff_seconds: float = 0.2
    max_backoff_seconds: float = 30.0
    multiplier: float = 2.0
    max_retry_after_seconds: float = 300.0
    max_retries: int | None = None
    """None: retry until delivered or shut down."""

    def may_retry(self, retries_done: int) -> bool:
        """True while another retry is allowed after ``retries_done`` retries."""
        return self.max_retries is None or retries_done < self.max_retries

    def delay_seconds(
        self, retry_number: int, *, retry_after: float | None, random: Callable[[], float]
    ) -> float:
        """Wait before retry number ``retry_number`` (1-based).

        A server's ``Retry-After`` is honoured (capped at ``max_retry_after_seconds``);
        otherwise the delay is ``initial * multiplier**(n-1)`` capped at
        ``max_backoff_seconds``, then jittered into its upper half so that many
        clients recovering together spread out but none retries at once.
        """
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_seconds)
        exponent = min(retry_number - 1, 64)
        base = min(
            self.max_backoff_seconds, self.initial_backoff_seconds * self.multiplier**exponent
        )
        return base / 2 + random() * base / 2
