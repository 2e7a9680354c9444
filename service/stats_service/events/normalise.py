"""The shared normaliser: the tags and fields of one event, every rule enforced."""

from __future__ import annotations

import math
from typing import Any

import orjson

from stats_service.errors import InvalidEvent
from stats_service.events.event import Event, FieldValue, Limits
from stats_service.events.ids import new_event_id
from stats_service.events.keys import (
    CONTROL_RE,
    EVENT_ID_PATTERN,
    KEY_RE,
    RESERVED_KEYS,
    bad_key,
    collision,
    is_valid_event_id,
    nested_key,
)
from stats_service.events.messages import json_type, show
from stats_service.events.sizes import (
    INT64_MAX,
    INT64_MIN,
    NUMBER_BYTES,
    text_size,
    too_long,
    utf8_size,
)
from stats_service.events.times import parse_time

__all__ = ["Builder", "time_and_id"]


def time_and_id(obj: dict[Any, Any], now_ns: int) -> tuple[int, str]:
    """The event time (``now_ns`` when absent) and id (fresh when absent)."""
    raw_time = obj.get("time")
    time_ns = now_ns if raw_time is None else parse_time(raw_time)
    raw_id = obj.get("event_id")
    if raw_id is None:
        return time_ns, new_event_id()
    if is_valid_event_id(raw_id):
        return time_ns, raw_id
    raise InvalidEvent(
        f"event_id {show(raw_id)} is invalid: it must be a string matching ^{EVENT_ID_PATTERN}$",
        key="event_id",
    )


class Builder:
    """Collects the tags and fields of one event and enforces every rule on them.

    Both payload forms go through it. Error messages name keys by ``label``
    (``data``, ``field``, ``tag``) and by their dotted path when nested.
    """

    __slots__ = ("fields", "limits", "size", "tag_keys", "tags")

    def __init__(self, limits: Limits, identity: str, tag_keys: frozenset[str]) -> None:
        self.limits = limits
        self.tag_keys = tag_keys
        self.tags: dict[str, str] = {}
        self.fields: dict[str, FieldValue] = {}
        # The sender's identity is configuration, not payload: no string limit applies.
        self.size = len("identity") + utf8_size(identity, "the", "identity", "identity")
        self.tags["identity"] = identity

    def add_tag(self, key: str, value: str, label: str, shown: str) -> None:
        """Add one tag under a valid ``key``; an empty value is dropped."""
        if CONTROL_RE.search(value) is not None:
            raise InvalidEvent(
                f"the value of {label} key {show(shown)} must not contain control characters "
                "(it is stored as a tag)",
                key=key,
            )
        if value.endswith("\\"):
            raise InvalidEvent(
                f"the value of {label} key {show(shown)} must not end with a backslash "
                "(it is stored as a tag, and line protocol cannot write that)",
                key=key,
            )
        size = text_size(value, self.limits.max_string_bytes, label, shown, key)
        if not value:
            return
        if key in self.tags or key in self.fields:
            raise collision(label, key, shown)
        self.tags[key] = value
        self.size += len(key) + size

    def add_field(self, key: str, value: FieldValue, size: int, label: str, shown: str) -> None:
        """Add one checked field value of ``size`` bytes under a valid ``key``."""
        if key in self.tags or key in self.fields:
            raise collision(label, key, shown)
        self.fields[key] = value
        self.size += len(key) + size

    def add_tags(self, raw: object) -> None:
        """Add the explicit ``tags`` object of a payload (``null`` means none)."""
        if raw is None:
            return
        if not isinstance(raw, dict):
            raise InvalidEvent(
                f"'tags' must be a JSON object of string values, got {json_type(raw)}",
                key="tags",
            )
        for key, value in raw.items():
            if not isinstance(key, str) or KEY_RE.fullmatch(key) is None or key in RESERVED_KEYS:
                raise bad_key(key, "tag")
            if value is None:
                continue
            if not isinstance(value, str):
                raise InvalidEvent(
                    f"tag {key!r} must have a string value, got {json_type(value)}", key=key
                )
            self.add_tag(key, value, "tag", key)

    def add_object(  # noqa: PLR0912  one flat type dispatch keeps the hot loop free of calls
        self,
        obj: dict[Any, Any],
        label: str,
        *,
        skip: frozenset[str] = frozenset(),
        prefix: str = "",
        path: str = "",
        level: int = 0,
    ) -> None:
        """Add every data key of ``obj``, flattening nested objects.

        At the top level (no ``prefix``) keys in ``skip`` are left out; nested
        keys are joined to ``prefix`` with ``_`` and shown as ``path.key``.
        This loop is the hot path of ingestion: it keeps its state in locals.
        """
        tags = self.tags
        fields = self.fields
        tag_keys = self.tag_keys
        max_string_bytes = self.limits.max_string_bytes
        key_fullmatch = KEY_RE.fullmatch
        size = 0
        for name, value in obj.items():
            if not prefix:
                if name in skip:
                    continue
                if (
                    not isinstance(name, str)
                    or key_fullmatch(name) is None
                    or name in RESERVED_KEYS
                ):
                    raise bad_key(name, label)
                key = shown = name
            else:
                key, shown = nested_key(prefix, path, name, label)
            if value is None:
                continue
            if isinstance(value, dict):
                max_depth = self.limits.max_depth
                if level >= max_depth:
                    raise InvalidEvent(
                        f"{label} key {show(shown)} nests objects deeper than {max_depth} levels",
                        key=key,
                    )
                self.add_object(value, label, prefix=key, path=shown, level=level + 1)
                continue
            if key in fields or key in tags:
                raise collision(label, key, shown)
            if isinstance(value, str):
                if key in tag_keys:
                    self.add_tag(key, value, label, shown)
                    continue
                value_size = len(value) if value.isascii() else utf8_size(value, label, shown, key)
                if value_size > max_string_bytes:
                    raise too_long(label, shown, key, value_size, max_string_bytes)
                fields[key] = value
                size += len(key) + value_size
            elif isinstance(value, int):  # bool included: it is an int with a stored type
                if not INT64_MIN <= value <= INT64_MAX:
                    raise InvalidEvent(
                        f"{label} key {show(shown)} holds an integer outside the signed "
                        "64-bit range",
                        key=key,
                    )
                fields[key] = value
                size += len(key) + NUMBER_BYTES
            elif isinstance(value, float):
                if not math.isfinite(value):
                    raise InvalidEvent(
                        f"{label} key {show(shown)} holds a non-finite number", key=key
                    )
                fields[key] = value
                size += len(key) + NUMBER_BYTES
            elif isinstance(value, list):
                self._add_list(key, value, label, shown)
            else:
                raise InvalidEvent(
                    f"{label} key {show(shown)} holds an unsupported value of type "
                    f"{type(value).__name__}",
                    key=key,
                )
        self.size += size

    def _add_list(self, key: str, value: list[Any], label: str, shown: str) -> None:
        """Add a list as one string field holding its compact JSON text."""
        try:
            encoded = orjson.dumps(value)
        except orjson.JSONEncodeError as exc:
            raise InvalidEvent(
                f"{label} key {show(shown)} holds a list that cannot be stored as JSON: {exc}",
                key=key,
            ) from None
        limit = self.limits.max_string_bytes
        if len(encoded) > limit:
            raise InvalidEvent(
                f"the value of {label} key {show(shown)} is {len(encoded)} bytes long as JSON; "
                f"at most {limit} are allowed",
                key=key,
            )
        self.add_field(key, encoded.decode(), len(encoded), label, shown)

    def finish(self, event_id: str, measurement: str, time_ns: int) -> Event:
        """Check the per-event totals and build the :class:`Event`."""
        limits = self.limits
        if len(self.tags) + len(self.fields) > limits.max_keys:
            raise InvalidEvent(
                f"the event has {len(self.tags) + len(self.fields)} keys (tags and fields, "
                f"after flattening); at most {limits.max_keys} are allowed",
                key=None,
            )
        if self.size > limits.max_event_bytes:
            raise InvalidEvent(
                f"the event is {self.size} bytes long (UTF-8 sizes of all keys and string "
                f"values, 8 for every other value); at most {limits.max_event_bytes} are allowed",
                key=None,
            )
        return Event(
            event_id=event_id,
            measurement=measurement,
            time_ns=time_ns,
            tags=self.tags,
            fields=self.fields,
        )
