"""A parsed line-protocol point written straight out as its stored line, without an ``Event``.

The fast path of ``/write`` and ``/api/v2/write``: for a plain point (the
ones :mod:`stats_service.events.lineprotocol_events` maps on its own fast
path: ASCII, valid names, no unsigned integers, within the limits) the
checks of that path run in one pass with the encoding, and the result is the
line :func:`~stats_service.storage.influx.stored.event_line` would give for
the event :func:`~stats_service.events.lineprotocol_events.event_from_point`
builds, byte for byte: the ``identity`` tag added, ``event_id`` added when
the point has none, the time filled in (property-tested against the
encoder). Every other point, and every error, is left to that module:
:func:`point_line` answers None and the caller takes the event path, so every
rule and message of the model stays in one place.
"""

from __future__ import annotations

import math
from typing import Final

from stats_service.errors import InvalidEvent
from stats_service.events.lineprotocol_events import plain_series, valid_key
from stats_service.events.lineprotocol_parse import ParsedPoint
from stats_service.events.model import Limits, is_valid_event_id, new_event_id
from stats_service.storage.influx.lineprotocol import EVENT_ID_FIELD, series_text
from stats_service.storage.influx.series import series_hash
from stats_service.storage.influx.stored import EncodedEvent

__all__ = ["point_line"]

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_MAX_TIME_NS: Final = 2**63 - 1  # exclusive, as in the model
_NUMBER_BYTES: Final = 8  # what the model counts for a number
_CACHE_MAX: Final = 4096

_Series = tuple[dict[str, str], int, str, int]
"""A series' tags, their size, the start of its lines and its hash."""
_series: dict[tuple[str, object, int], _Series | None] = {}
"""Recent series of plain points, by identity, series text and string limit."""


def _plain_series(point: ParsedPoint, identity: str, max_string_bytes: int) -> _Series | None:
    key = (
        identity,
        point.series if point.series is not None else (point.measurement, *point.tags.items()),
        max_string_bytes,
    )
    if key in _series:
        return _series[key]
    found: _Series | None = None
    plain = plain_series(point, identity, max_string_bytes)
    if plain is not None and "" not in plain[0].values():
        tags, size = plain
        try:
            prefix = series_text(point.measurement, tags)
        except InvalidEvent:
            prefix = None
        # A backslash in the line is left to the event path, which checks it reads back.
        if prefix is not None and "\\" not in prefix:
            found = (tags, size, prefix, series_hash(point.measurement, tags))
    if len(_series) >= _CACHE_MAX:
        _series.clear()
    _series[key] = found
    return found


def point_line(  # noqa: PLR0912  one flat pass keeps the hot path free of calls
    point: ParsedPoint, *, identity: str, now_ns: int, limits: Limits
) -> EncodedEvent | None:
    """``point`` as the stored line of its event, or None to take the event path."""
    max_string_bytes = limits.max_string_bytes
    series = _plain_series(point, identity, max_string_bytes)
    if series is None:
        return None
    tags, size, prefix, hashed = series
    parts = [prefix]
    event_id: str | None = None
    uid: str | None = None
    count = 0
    for key, value in point.fields.items():
        if key == EVENT_ID_FIELD:
            if not is_valid_event_id(value):
                return None
            event_id = value
            continue
        if not valid_key(key) or key in tags:
            return None
        if type(value) is str:
            if not value.isascii() or len(value) > max_string_bytes or "\\" in value:
                return None
            if '"' in value:
                return None  # escaped in the line: the event path checks it reads back
            size += len(key) + len(value)
            parts.append(f'{key}="{value}",')
            if key == "uid":
                uid = value
        elif type(value) is bool:
            size += len(key) + _NUMBER_BYTES
            parts.append(f"{key}=true," if value else f"{key}=false,")
        elif type(value) is float:
            if not math.isfinite(value):
                return None
            size += len(key) + _NUMBER_BYTES
            parts.append(f"{key}={value!r},")
        elif type(value) is int and _INT64_MIN <= value <= _INT64_MAX:
            size += len(key) + _NUMBER_BYTES
            parts.append(f"{key}={value:d}i,")
        else:
            return None  # unsigned integers (and anything else) take the model's path
        count += 1
    if not count or len(tags) + count > limits.max_keys or size > limits.max_event_bytes:
        return None
    time_ns = now_ns if point.time_ns is None else point.time_ns
    if not 0 <= time_ns < _MAX_TIME_NS:
        return None
    if event_id is None:
        event_id = new_event_id()
    parts.append(f'{EVENT_ID_FIELD}="{event_id}" {time_ns:d}')
    return EncodedEvent(
        event_id=event_id,
        measurement=point.measurement,
        time_ns=time_ns,
        tags=tags,
        series=hashed,
        uid=uid,
        line="".join(parts).encode("ascii"),
    )
