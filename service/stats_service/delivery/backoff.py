"""The one retry policy of the service side: what to retry, and how long to wait.

Retry network errors, 5xx, 408 and 429; never other 4xx (sending the same
request again cannot change the answer). Waits grow exponentially from
``initial_seconds`` by ``multiplier`` up to ``max_seconds``, and are jittered
downwards by up to ``jitter`` of their length so that many senders recovering
together do not retry in lockstep. A server's ``Retry-After`` is honoured: the
wait is at least that long (capped by ``max_retry_after_seconds`` so a silly
header cannot stall delivery for hours).

Pure: the random source is passed in, so tests compute exact waits.

=========  ==========================================  ==========================
attempt    wait before it (defaults, no Retry-After)   range with jitter 0.5
=========  ==========================================  ==========================
1          0.2 s                                       0.1 s to 0.2 s
2          0.4 s                                       0.2 s to 0.4 s
3          0.8 s                                       0.4 s to 0.8 s
...        doubling                                    half to whole
7 and on   10 s (the cap)                              5 s to 10 s
=========  ==========================================  ==========================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Backoff", "is_retryable_status"]

_RETRYABLE_4XX = frozenset({408, 429})


def is_retryable_status(status: int) -> bool:
    """Whether an HTTP answer with this status is worth sending again later."""
    return status >= 500 or status in _RETRYABLE_4XX


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped, jittered exponential backoff; ``delay`` gives the wait before a retry."""

    initial_seconds: float = 0.2
    """Wait before the first retry (before jitter)."""
    multiplier: float = 2.0
    """Growth of the wait from one retry to the next."""
    max_seconds: float = 10.0
    """Cap on the wait (before jitter)."""
    jitter: float = 0.5
    """Fraction of each wait that is random: the wait lies in ``[(1 - jitter) w, w]``."""
    max_retry_after_seconds: float = 300.0
    """Cap on the wait a server's ``Retry-After`` can impose."""

    def __post_init__(self) -> None:
        if self.initial_seconds <= 0 or self.max_seconds < self.initial_seconds:
            raise ValueError("backoff needs 0 < initial_seconds <= max_seconds")
        if self.multiplier < 1:
            raise ValueError("backoff multiplier must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("backoff jitter must lie between 0 and 1")

    def ceiling(self, attempt: int) -> float:
        """The un-jittered wait before retry number ``attempt`` (1 for the first retry)."""
        if attempt < 1:
            raise ValueError("attempts are numbered from 1")
        wait = self.initial_seconds
        for _ in range(attempt - 1):
            wait *= self.multiplier
            if wait >= self.max_seconds:
                return self.max_seconds
        return min(wait, self.max_seconds)

    def delay(
        self,
        attempt: int,
        *,
        random: Callable[[], float],
        retry_after_seconds: float | None = None,
    ) -> float:
        """The wait before retry ``attempt``; ``random()`` returns a float in ``[0, 1)``."""
        wait = self.ceiling(attempt)
        wait -= wait * self.jitter * random()
        if retry_after_seconds is not None and retry_after_seconds > 0:
            wait = max(wait, min(retry_after_seconds, self.max_retry_after_seconds))
        return wait
