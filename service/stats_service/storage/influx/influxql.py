"""InfluxQL pieces of the v1 backend: the selection of a window query, rows back to events.

Only identifiers we control are quoted into the text (``escape_identifier``);
every value a user sends stays a bound ``$name`` parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stats_service.events.model import Event, FieldValue
from stats_service.events.query import EventQuery
from stats_service.storage.influx.lineprotocol import EVENT_ID_FIELD, escape_identifier
from stats_service.storage.influx.points import EVENT_TAG, UID_FIELD

__all__ = ["ALL_MEASUREMENTS", "Selection", "row_to_event", "select_window"]

ALL_MEASUREMENTS = "/.*/"
"""The source of a query over every measurement."""


@dataclass(frozen=True, slots=True)
class Selection:
    """The ``FROM`` and ``WHERE`` of a window query; values stay bound parameters."""

    source: str
    where: str
    params: Mapping[str, Any]

    def bind(self, since_ns: int, until_ns: int) -> dict[str, Any]:
        """The parameters for the window ``[since_ns, until_ns)``."""
        return {**self.params, "since": since_ns, "until": until_ns}


def select_window(query: EventQuery, qualified: Callable[[str], str]) -> Selection:
    """The selection of ``query``'s filters; ``qualified`` adds the retention policy."""
    where = ["time >= $since", "time < $until"]
    params: dict[str, Any] = {}
    if query.event is not None:
        where.append(f"{escape_identifier(EVENT_TAG)} = $event")
        params["event"] = query.event
    if query.uid is not None:
        where.append(f"{escape_identifier(UID_FIELD)} = $uid")
        params["uid"] = query.uid
    return Selection(
        source=qualified(
            ALL_MEASUREMENTS if query.measurement is None else escape_identifier(query.measurement)
        ),
        where=" AND ".join(where),
        params=params,
    )


def row_to_event(
    measurement: str,
    tags: dict[str, str],
    columns: list[str],
    row: list[Any],
    float_columns: set[str],
) -> Event | None:
    """The event a row of a ``SELECT * ... GROUP BY *`` holds; None for foreign points.

    ``float_columns`` are the fields stored as floats that JSON wrote as whole numbers.
    """
    event_id: str | None = None
    fields: dict[str, FieldValue] = {}
    for name, value in zip(columns[1:], row[1:], strict=True):
        if value is None:
            continue
        if name == EVENT_ID_FIELD:
            event_id = str(value)
        elif name in float_columns and type(value) is int:
            fields[name] = float(value)
        else:
            fields[name] = value
    if event_id is None:
        return None  # a point not written by this service
    return Event(
        event_id=event_id,
        measurement=measurement,
        time_ns=int(row[0]),
        tags=dict(tags),
        fields=fields,
    )
