"""Event ids: ``entry_`` and a version 7 UUID that strictly increases within a process.

The UUID (RFC 9562) starts with the Unix time in milliseconds. The 74 bits
after it follow the fixed-length counter method of section 6.2 (method 1): the
12 bits of ``rand_a`` and the top 30 bits of ``rand_b`` are a 42-bit counter,
set to a random value with its top bit clear at each new millisecond and
incremented for every further id in the same millisecond; the last 32 bits are
fresh random bits in every id, so an id cannot be guessed from the one before.

So every id sorts after the one this process made before it, even within a
millisecond or when the wall clock steps back (the last timestamp is kept
until the clock passes it). A counter that fills up moves the timestamp on by
a millisecond, as the RFC allows. Stores index ``event_id``: ids that arrive
in order are appended at the end of that index instead of landing on a random
page of it, which keeps each commit small.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

__all__ = ["EventIds", "new_event_id"]

_COUNTER_BITS = 42
_COUNTER_LIMIT = 1 << _COUNTER_BITS
_SEED_SHIFT = 80 - (_COUNTER_BITS - 1)  # 41 random bits seed the counter: its top bit is 0
_LOW_COUNTER_BITS = 30  # the counter bits that live in rand_b
_LOW_COUNTER_MASK = (1 << _LOW_COUNTER_BITS) - 1
_TAIL_MASK = 0xFFFFFFFF
_VERSION = 0x7 << 76
_VARIANT = 0b10 << 62


class EventIds:
    """One process's sequence of ids (thread-safe); ``new()`` makes the next."""

    def __init__(
        self,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._clock_ns = clock_ns
        self._random_bytes = random_bytes
        self._lock = threading.Lock()
        self._last_ms = -1
        self._counter = 0

    def new(self) -> str:
        """The next id: ``entry_`` and 32 lowercase hex digits."""
        now_ms = self._clock_ns() // 1_000_000
        rand = int.from_bytes(self._random_bytes(10), "big")
        with self._lock:
            if now_ms > self._last_ms:
                self._last_ms = now_ms
                self._counter = rand >> _SEED_SHIFT
            else:  # the same millisecond, or the clock stepped back
                self._counter += 1
                if self._counter >= _COUNTER_LIMIT:
                    self._last_ms += 1
                    self._counter = rand >> _SEED_SHIFT
            ms, counter = self._last_ms, self._counter
        value = (
            ms << 80
            | _VERSION
            | (counter >> _LOW_COUNTER_BITS) << 64
            | _VARIANT
            | (counter & _LOW_COUNTER_MASK) << 32
            | rand & _TAIL_MASK
        )
        return f"entry_{value:032x}"

    def reset(self) -> None:
        """Forget the sequence (a forked child starts its own)."""
        self._lock = threading.Lock()
        self._last_ms = -1
        self._counter = 0


_process_ids: EventIds | None = None
_setup_lock = threading.Lock()


def new_event_id() -> str:
    """A fresh id from this process's sequence (see the module docstring)."""
    ids = _process_ids
    if ids is None:
        ids = _start()
    return ids.new()


def _start() -> EventIds:
    global _process_ids  # noqa: PLW0603  # one sequence per process, made on first use
    with _setup_lock:
        if _process_ids is None:
            _process_ids = EventIds()
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_process_ids.reset)
        return _process_ids
