"""The live stream's own view of the settings (the ``stream_*`` fields)."""

from __future__ import annotations

from dataclasses import dataclass

from stats_service.settings import Settings

__all__ = ["StreamConfig"]


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """How the stream polls, buffers, resumes and limits; see ``Settings.stream_*``."""

    poll_interval_seconds: float = 0.1
    heartbeat_seconds: float = 15.0
    buffer_events: int = 1000
    replay_max_events: int = 100_000
    max_per_identity: int = 20
    ws_auth_timeout_seconds: float = 10.0
    read_batch_events: int = 500
    """Most entries one poll reads; a full page is followed by another at once."""

    @classmethod
    def from_settings(cls, settings: Settings) -> StreamConfig:
        """The stream fields of ``settings``."""
        return cls(
            poll_interval_seconds=settings.stream_poll_interval_seconds,
            heartbeat_seconds=settings.stream_heartbeat_seconds,
            buffer_events=settings.stream_buffer_events,
            replay_max_events=settings.stream_replay_max_events,
            max_per_identity=settings.stream_max_per_identity,
            ws_auth_timeout_seconds=settings.stream_ws_auth_timeout_seconds,
        )
