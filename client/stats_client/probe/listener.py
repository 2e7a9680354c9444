"""Listens on ``GET /log/stream`` for the probe's events; reconnects forever.

Each reconnect resumes with ``Last-Event-ID``, so an event committed while
the listener was away still arrives (late). Backoff between attempts is
exponential, capped at ``max_seconds`` and jittered ("full jitter"); the
``sleep`` and ``random`` are injected for tests.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx

__all__ = ["Backoff", "StreamListener", "sse_messages"]

_log = logging.getLogger(__name__)


class Backoff:
    """Delays of reconnect attempts: ``min(max, initial * 2**n)`` times a random share."""

    def __init__(
        self,
        *,
        initial_seconds: float = 0.5,
        max_seconds: float = 30.0,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._initial, self._max, self._uniform = initial_seconds, max_seconds, uniform
        self._attempt = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; grows until :meth:`reset`."""
        ceiling = min(self._max, self._initial * 2 ** min(self._attempt, 30))
        self._attempt += 1
        return self._uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        """A connection worked: start from the smallest delay again."""
        self._attempt = 0


def sse_messages(lines: Iterator[str]) -> Iterator[tuple[str | None, str, str]]:
    """``(id, event type, data)`` of each SSE frame with data; comments are skipped."""
    frame_id: str | None = None
    kind, data = "message", ""
    for line in lines:
        if not line:
            if data:
                yield frame_id, kind, data
            frame_id, kind, data = None, "message", ""
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if key == "data":
            data = f"{data}\n{value}" if data else value
        elif key == "id":
            frame_id = value
        elif key == "event":
            kind = value


class StreamListener:
    """Reads the stream in a loop, calling ``on_event`` with each event's JSON."""

    def __init__(
        self,
        *,
        url: str,
        token: str,
        params: dict[str, str],
        on_event: Callable[[dict[str, Any]], None],
        on_state: Callable[[bool], None],
        backoff: Backoff,
        stop: threading.Event,
        client: httpx.Client | None = None,
    ) -> None:
        self._url = url.rstrip("/") + "/log/stream"
        self._headers = {"Authorization": f"Token {token}"}
        self._params = params
        self._on_event, self._on_state = on_event, on_state
        self._backoff, self._stop = backoff, stop
        self._client = client or httpx.Client(timeout=httpx.Timeout(10.0, read=60.0))
        self.last_event_id: str | None = None
        self.connects = 0

    def run(self) -> None:
        """Until ``stop`` is set: connect, read, and after any failure wait and reconnect."""
        while not self._stop.is_set():
            try:
                self._read_once()
            except (httpx.HTTPError, OSError, ValueError) as exc:
                _log.info("stream listener: %s", exc)
            self._on_state(False)
            self._stop.wait(self._backoff.next_delay())

    def _read_once(self) -> None:
        headers = dict(self._headers)
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        with self._client.stream("GET", self._url, params=self._params, headers=headers) as reply:
            if reply.status_code != httpx.codes.OK:
                reply.read()
                _log.info("stream answered %d", reply.status_code)
                return
            self.connects += 1
            self._on_state(True)
            self._backoff.reset()
            for frame_id, kind, data in sse_messages(reply.iter_lines()):
                if self._stop.is_set():
                    return
                if kind == "error":
                    if '"gone"' in data:
                        self.last_event_id = None  # the resume point is gone: start live
                    _log.info("stream ended: %s", data)
                    return
                if frame_id:
                    self.last_event_id = frame_id
                self._on_event(json.loads(data))

    def close(self) -> None:
        """Close the HTTP client (after :meth:`run` returned)."""
        self._client.close()
