"""Fixtures shared by the service's unit tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stats_service.events.model import Event, FieldValue

T0 = 1_700_000_000_000_000_000
"""The default event time of ``make_event`` (ns since the epoch)."""


@pytest.fixture
def make_event() -> Callable[..., Event]:
    """Build an event with sensible defaults; every part can be overridden."""

    def build(
        event_id: str = "e-1",
        *,
        time_ns: int = T0,
        measurement: str = "analytics",
        event: str | None = "signup",
        uid: FieldValue | None = "user-1",
        tags: dict[str, str] | None = None,
        fields: dict[str, FieldValue] | None = None,
    ) -> Event:
        all_tags = {} if event is None else {"event": event}
        all_tags.update(tags or {})
        all_fields: dict[str, FieldValue] = {} if uid is None else {"uid": uid}
        all_fields.update(fields or {})
        return Event(
            event_id=event_id,
            measurement=measurement,
            time_ns=time_ns,
            tags=all_tags,
            fields=all_fields,
        )

    return build
