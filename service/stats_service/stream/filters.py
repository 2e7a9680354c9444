"""Which events a client asked for: ``event=``, ``uid=``, ``measurement=`` (each repeatable).

Values of one key are alternatives; different keys must all match. A bad
filter is an :class:`~stats_service.errors.InvalidInput` (422), raised before
the stream opens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stats_service.errors import InvalidInput
from stats_service.events.model import Event

__all__ = ["FILTER_KEYS", "MAX_FILTER_VALUES", "StreamFilter"]

FILTER_KEYS = ("event", "uid", "measurement")
"""The query parameters a stream filters on."""
MAX_FILTER_VALUES = 100
"""Most values of one filter key."""
_MAX_VALUE_CHARS = 1024


def _values(key: str, values: Iterable[str]) -> frozenset[str]:
    chosen = list(values)
    if len(chosen) > MAX_FILTER_VALUES:
        raise InvalidInput(
            f"at most {MAX_FILTER_VALUES} values of {key!r}",
            details={"key": key, "count": len(chosen)},
        )
    for value in chosen:
        if not value or len(value) > _MAX_VALUE_CHARS or not value.isprintable():
            raise InvalidInput(
                f"{key!r} must be 1 to {_MAX_VALUE_CHARS} printable characters",
                details={"key": key},
            )
    return frozenset(chosen)


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """The filters of one stream; an empty set lets every value through."""

    events: frozenset[str] = frozenset()
    uids: frozenset[str] = frozenset()
    measurements: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, pairs: Iterable[tuple[str, str]]) -> StreamFilter:
        """The filter of query parameters ``pairs``; others than :data:`FILTER_KEYS`
        and ``since_id`` are refused, so a typo does not silently stream everything."""
        found: dict[str, list[str]] = {key: [] for key in FILTER_KEYS}
        for key, value in pairs:
            if key in found:
                found[key].append(value)
            elif key != "since_id":
                raise InvalidInput(
                    f"unknown stream parameter {key!r}; known: {', '.join(FILTER_KEYS)}",
                    details={"key": key},
                )
        return cls(
            events=_values("event", found["event"]),
            uids=_values("uid", found["uid"]),
            measurements=_values("measurement", found["measurement"]),
        )

    def matches(self, event: Event) -> bool:
        """Whether ``event`` passes every filter."""
        if self.measurements and event.measurement not in self.measurements:
            return False
        if self.events and event.tags.get("event") not in self.events:
            return False
        if self.uids:
            uid = event.fields.get("uid")
            if not isinstance(uid, str) or uid not in self.uids:
                return False
        return True
