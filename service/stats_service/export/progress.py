"""Progress of an export run on stderr: a bar on a terminal, plain lines otherwise.

Events come out of the store oldest first, so the share of the window covered
by the latest exported event is the bar's fill. Off a terminal (a cron job's
log) there is one line per stored package and none per page.
"""

from __future__ import annotations

import time
from typing import TextIO

from stats_service.export.window import Window

__all__ = ["Progress"]

_BAR_WIDTH = 30
_REDRAW_SECONDS = 0.1


class Progress:
    """Reports one run's progress to ``stream``."""

    def __init__(self, stream: TextIO | None, window: Window, *, tty: bool | None = None) -> None:
        self._stream = stream
        self._window = window
        self._tty = bool(stream is not None and (stream.isatty() if tty is None else tty))
        self._events = 0
        self._fraction = 0.0
        self._packages = 0
        self._bytes = 0
        self._drawn = 0.0

    def events(self, count: int, last_time_ns: int) -> None:
        """After each page of events: how many so far and the time of the latest."""
        self._events = count
        span = self._window.until_ns - self._window.since_ns
        self._fraction = min(max((last_time_ns - self._window.since_ns) / span, 0.0), 1.0)
        now = time.monotonic()
        if self._tty and now - self._drawn >= _REDRAW_SECONDS:
            self._drawn = now
            self._draw()

    def stored(self, name: str, size: int) -> None:
        """After a package is stored."""
        self._packages += 1
        self._bytes += size
        if self._tty:
            self._draw()
        else:
            self._line(f"stored {name} ({size:,} bytes)")

    def done(self, message: str) -> None:
        """The final line."""
        if self._tty and self._stream is not None:
            self._stream.write("\r\x1b[K")
        self._line(message)

    def _draw(self) -> None:
        assert self._stream is not None
        filled = int(self._fraction * _BAR_WIDTH)
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        self._stream.write(
            f"\r[{bar}] {self._fraction:4.0%} {self._events:,} events, "
            f"{self._packages} package(s), {self._bytes / 1e6:.1f} MB"
        )
        self._stream.flush()

    def _line(self, text: str) -> None:
        if self._stream is not None:
            self._stream.write(text + "\n")
            self._stream.flush()
