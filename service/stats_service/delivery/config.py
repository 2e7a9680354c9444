"""The delivery settings: how the forwarder batches, waits, retries and stops.

One typed object for the ``STATS_FORWARD_*`` settings (read from
``Settings`` by :func:`stats_service.backends.delivery_config`),
taken by both :class:`~stats_service.delivery.forwarder.Forwarder` and
:class:`~stats_service.delivery.durable.DurableStore`. The queue's own bounds
(``STATS_OUTBOX_*``) belong to the queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stats_service.delivery.backoff import Backoff

__all__ = ["DeliveryConfig"]


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    """How the forwarder batches, waits and retries, and how long stopping may take."""

    batch_max_events: int = 5000
    """Most events in one backend write."""
    batch_max_bytes: int = 8 * 1024 * 1024
    """Most queued bytes in one backend write (one larger event still goes alone)."""
    linger_seconds: float = 1.0
    """How long a batch that is not full waits for more events before it is sent."""
    poll_interval_seconds: float = 1.0
    """How often an idle forwarder looks for work it was not told about (CLI replays),
    and a standing-by process tries for the forwarding lease."""
    prune_interval_seconds: float = 60.0
    """How often forwarded entries older than the dedupe window are deleted."""
    close_timeout_seconds: float = 10.0
    """How long stopping waits for the batch in flight, and then for the queue."""
    backoff: Backoff = field(default_factory=Backoff)
    """Waits between attempts while the backend is unavailable."""
