"""The overview's numbers: ingest per minute over the last hour, events by type, delivery.

The ingest chart comes from the store itself (a window query over the last hour), so it
shows what is stored whichever worker took it and survives restarts. The scan is bounded
by ``max_events``; past that the answer says it is partial rather than reading on.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Final

from stats_service import __version__
from stats_service.delivery.queue import DeliveryReporter
from stats_service.storage.base import EventQuery, EventStore

__all__ = ["WINDOW_MINUTES", "overview"]

WINDOW_MINUTES: Final = 60
_NS_PER_MINUTE: Final = 60 * 1_000_000_000
_TOP_TYPES: Final = 20


async def overview(
    store: EventStore, *, now_ns: int, max_events: int, page_size: int
) -> dict[str, Any]:
    """The summary the overview page draws, as JSON-ready values."""
    # Whole minutes: the last bucket is the current, partial minute.
    end_ns = (now_ns // _NS_PER_MINUTE + 1) * _NS_PER_MINUTE
    start_ns = end_ns - WINDOW_MINUTES * _NS_PER_MINUTE
    per_minute = [0] * WINDOW_MINUTES
    by_type: Counter[str] = Counter()
    scanned = 0
    after: tuple[int, str] | None = None
    complete = True
    while True:
        limit = min(page_size, max_events - scanned)
        if limit <= 0:
            complete = False
            break
        page = await store.query(
            EventQuery(since_ns=start_ns, until_ns=end_ns, limit=limit, after=after)
        )
        for event in page.events:
            per_minute[(event.time_ns - start_ns) // _NS_PER_MINUTE] += 1
            by_type[event.tags.get("event", "")] += 1
        scanned += len(page.events)
        if page.next_after is None:
            break
        after = page.next_after
    health = await store.health()
    outbox = None
    if isinstance(store, DeliveryReporter):
        outbox = (await store.status()).as_dict()
    return {
        "version": __version__,
        "now_ns": now_ns,
        "ingest": {
            "start_ns": start_ns,
            "minute_ns": _NS_PER_MINUTE,
            "per_minute": per_minute,
            "scanned": scanned,
            "complete": complete,
        },
        "events_by_type": [
            {"event": name, "count": count} for name, count in by_type.most_common(_TOP_TYPES)
        ],
        "storage": {"backend": health.backend, "ok": health.ok, "detail": health.detail},
        "outbox": outbox,
    }
