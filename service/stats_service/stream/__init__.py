"""The live event stream: ``GET /log/stream`` (SSE) and ``GET /log/ws`` (WebSocket).

- :mod:`.component`: the :class:`StreamComponent` the service plugs in;
- :mod:`.tailer`: follows the durable log by position and feeds subscriptions;
- :mod:`.subscription`: one client's bounded buffer;
- :mod:`.source`: which log a store offers (embedded store, or outbox + backend);
- :mod:`.filters`, :mod:`.frames`, :mod:`.config`;
- :mod:`.sse`, :mod:`.ws`: the two routes.
"""

from __future__ import annotations

from stats_service.stream.component import StreamComponent, build_stream
from stats_service.stream.config import StreamConfig
from stats_service.stream.filters import StreamFilter
from stats_service.stream.tailer import Tailer

__all__ = ["StreamComponent", "StreamConfig", "StreamFilter", "Tailer", "build_stream"]
