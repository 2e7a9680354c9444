"""Sizes and ranges of values: UTF-8 sizes of strings, the 64-bit integer range."""

from __future__ import annotations

from stats_service.errors import InvalidEvent
from stats_service.events.messages import show

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_EVENT_NAME_CHARS",
    "MAX_UID_BYTES",
    "NUMBER_BYTES",
    "text_size",
    "too_long",
    "utf8_size",
]

MAX_EVENT_NAME_CHARS = 256
MAX_UID_BYTES = 1024
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
NUMBER_BYTES = 8
"""What every value that is not a string counts towards an event's size."""


def utf8_size(value: str, label: str, shown: str, key: str) -> int:
    """The UTF-8 size of ``value``; :class:`InvalidEvent` if it is not valid Unicode."""
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidEvent(
            f"the value of {label} key {show(shown)} is not valid Unicode text "
            "(it contains a lone surrogate such as \\ud800)",
            key=key,
        ) from None


def too_long(label: str, shown: str, key: str, size: int, limit: int) -> InvalidEvent:
    """The error for a string value over ``Limits.max_string_bytes``."""
    return InvalidEvent(
        f"the value of {label} key {show(shown)} is {size} bytes long (UTF-8); "
        f"at most {limit} are allowed",
        key=key,
    )


def text_size(value: str, limit: int, label: str, shown: str, key: str | None = None) -> int:
    """The UTF-8 size of valid Unicode ``value`` of at most ``limit`` bytes."""
    size = len(value) if value.isascii() else utf8_size(value, label, shown, key or shown)
    if size > limit:
        raise too_long(label, shown, key or shown, size, limit)
    return size
