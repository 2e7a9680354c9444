"""Events for the export integration tests: reproducible, spread over whole UTC days."""

from __future__ import annotations

import datetime as dt
import random

from stats_service.events.model import Event
from stats_service.export.window import to_ns

__all__ = ["EVENT_TYPES", "NOV_1", "generate_events"]

NOV_1 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
EVENT_TYPES = ("app.open", "app.close", "user.login", "user.logout", "page.view")
IDENTITIES = ("web", "ios", "android", "batch")


def generate_events(count: int, *, days: int = 3, seed: int = 14) -> list[Event]:
    """``count`` events over ``days`` days from 2026-11-01, uids and a numeric field each."""
    rng = random.Random(seed)
    start = to_ns(NOV_1)
    span = days * 86_400 * 10**9
    return [
        Event(
            event_id=f"ev{seed:02d}{number:09d}",
            measurement="analytics",
            time_ns=start + rng.randrange(span),
            tags={"event": rng.choice(EVENT_TYPES), "identity": rng.choice(IDENTITIES)},
            fields={"uid": f"user-{rng.randrange(5000)}", "duration_ms": rng.randrange(1, 900)},
        )
        for number in range(count)
    ]
