"""The two payload forms, event and point, and the choice between them for a batch item."""

from __future__ import annotations

from stats_service.errors import InvalidEvent
from stats_service.events import fast
from stats_service.events.event import Event, Limits
from stats_service.events.keys import (
    CONTROL_RE,
    EVENT_CONTROL_KEYS,
    MEASUREMENT_PATTERN,
    MEASUREMENT_RE,
    POINT_KEYS,
)
from stats_service.events.messages import json_type, safe_key, show
from stats_service.events.normalise import Builder, time_and_id
from stats_service.events.sizes import MAX_EVENT_NAME_CHARS, MAX_UID_BYTES, text_size

__all__ = ["parse_event", "parse_item", "parse_point"]


def parse_event(
    obj: object,
    *,
    identity: str,
    measurement: str,
    now_ns: int,
    limits: Limits,
    tag_keys: frozenset[str] = frozenset(),
) -> Event:
    """Validate and normalise one event-form payload into an :class:`Event`.

    ``event`` (required, non-empty) becomes a tag, ``uid`` (required, may be
    empty) a field, ``tags`` explicit tags, every other key data (fields, or a
    tag when the key is in ``tag_keys`` and its value is a string). ``time``
    and ``event_id`` default to ``now_ns`` and a fresh id.
    """
    if not isinstance(obj, dict):
        raise InvalidEvent("an event must be a JSON object", key=None)
    quick = fast.flat_event(obj, identity, measurement, now_ns, limits, tag_keys)
    if quick is not None:
        return quick
    name = obj.get("event")
    if name is None:
        raise InvalidEvent(
            "'event' is required: a non-empty string such as 'pnc.user.login'", key="event"
        )
    if not isinstance(name, str):
        raise InvalidEvent(f"'event' must be a string, got {json_type(name)}", key="event")
    if not name:
        raise InvalidEvent("'event' must not be empty", key="event")
    if len(name) > MAX_EVENT_NAME_CHARS:
        raise InvalidEvent(
            f"'event' is {len(name)} characters long; at most {MAX_EVENT_NAME_CHARS} are allowed",
            key="event",
        )
    if "uid" not in obj:
        raise InvalidEvent("'uid' is required (it may be an empty string)", key="uid")
    uid = obj["uid"]
    if not isinstance(uid, str):
        raise InvalidEvent(f"'uid' must be a string, got {json_type(uid)}", key="uid")
    if CONTROL_RE.search(uid) is not None:
        raise InvalidEvent("'uid' must not contain control characters", key="uid")
    uid_size = text_size(uid, limits.max_string_bytes, "the", "uid")
    if uid_size > MAX_UID_BYTES:
        raise InvalidEvent(
            f"'uid' is {uid_size} bytes long (UTF-8); at most {MAX_UID_BYTES} are allowed",
            key="uid",
        )
    time_ns, event_id = time_and_id(obj, now_ns)

    builder = Builder(limits, identity, tag_keys)
    builder.add_tag("event", name, "the", "event")
    builder.add_field("uid", uid, uid_size, "the", "uid")
    builder.add_tags(obj.get("tags"))
    builder.add_object(obj, "data", skip=EVENT_CONTROL_KEYS)
    return builder.finish(event_id, measurement, time_ns)


def parse_point(obj: object, *, identity: str, now_ns: int, limits: Limits) -> Event:
    """Validate and normalise one point-form payload into an :class:`Event`.

    ``measurement`` and a non-empty ``fields`` object are required; ``tags``,
    ``time`` and ``event_id`` are optional; any other key is an error. Fields
    are normalised exactly like event data.
    """
    if not isinstance(obj, dict):
        raise InvalidEvent("a point must be a JSON object", key=None)
    for key in obj:
        if key not in POINT_KEYS:
            raise InvalidEvent(
                f"unknown key {show(key)} in a point: expected {', '.join(POINT_KEYS)}",
                key=safe_key(key),
            )
    measurement = obj.get("measurement")
    if not isinstance(measurement, str) or MEASUREMENT_RE.fullmatch(measurement) is None:
        raise InvalidEvent(
            f"measurement {show(measurement)} is invalid: "
            f"it must be a string matching ^{MEASUREMENT_PATTERN}$",
            key="measurement",
        )
    fields = obj.get("fields")
    if not isinstance(fields, dict):
        raise InvalidEvent(
            f"'fields' is required and must be a JSON object, got {json_type(fields)}",
            key="fields",
        )
    time_ns, event_id = time_and_id(obj, now_ns)

    builder = Builder(limits, identity, frozenset())
    builder.add_tags(obj.get("tags"))
    builder.add_object(fields, "field")
    if not builder.fields:
        raise InvalidEvent("'fields' must hold at least one non-null value", key="fields")
    return builder.finish(event_id, measurement, time_ns)


def parse_item(
    obj: object,
    *,
    identity: str,
    measurement: str,
    now_ns: int,
    limits: Limits,
    tag_keys: frozenset[str] = frozenset(),
) -> Event:
    """Parse one item of a batch: a point if it has ``measurement`` and no ``event``."""
    if isinstance(obj, dict) and "measurement" in obj and "event" not in obj:
        return parse_point(obj, identity=identity, now_ns=now_ns, limits=limits)
    return parse_event(
        obj,
        identity=identity,
        measurement=measurement,
        now_ns=now_ns,
        limits=limits,
        tag_keys=tag_keys,
    )
