"""A batch of items: the events of the valid ones and the reasons for the rest.

One loop over the batch, trying the fast path of the event form
(:func:`~stats_service.events.fast.flat_event`) on each event-form item
before :func:`~stats_service.events.forms.parse_item`, which answers every
other item (and gives the error of every invalid one). The answers are
exactly those of ``parse_item`` called on each item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stats_service.errors import InvalidEvent
from stats_service.events.event import Event, Limits
from stats_service.events.fast import flat_event
from stats_service.events.forms import parse_item

__all__ = ["parse_batch"]


def parse_batch(
    items: Sequence[Any],
    *,
    identity: str,
    measurement: str,
    now_ns: int,
    limits: Limits,
    tag_keys: frozenset[str] = frozenset(),
    pre_rejected: Mapping[int, str] | None = None,
) -> tuple[list[Event], list[tuple[int, str]]]:
    """``(events, rejected)``: the valid items' events, ``(index, message)`` for the others.

    Item ``index`` without a time gets ``now_ns + index``, so that the points
    of one batch never share a timestamp by accident. Indexes in
    ``pre_rejected`` (lines that were not JSON) are refused with its message.
    """
    events: list[Event] = []
    rejected: list[tuple[int, str]] = []
    append = events.append
    for index, item in enumerate(items):
        if pre_rejected and index in pre_rejected:
            rejected.append((index, pre_rejected[index]))
            continue
        if type(item) is dict and "event" in item:
            event = flat_event(item, identity, measurement, now_ns + index, limits, tag_keys)
            if event is not None:
                append(event)
                continue
        try:
            append(
                parse_item(
                    item,
                    identity=identity,
                    measurement=measurement,
                    now_ns=now_ns + index,
                    limits=limits,
                    tag_keys=tag_keys,
                )
            )
        except InvalidEvent as exc:
            rejected.append((index, exc.message))
    return events, rejected
