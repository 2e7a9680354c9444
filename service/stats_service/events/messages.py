"""How error messages of the event model name values, keys and JSON types."""

from __future__ import annotations

__all__ = ["json_type", "safe_key", "show"]


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if isinstance(value, bool):
        return "a boolean"
    kinds: tuple[tuple[type, str], ...] = (
        (type(None), "null"),
        (int, "a number"),
        (float, "a number"),
        (str, "a string"),
        (list, "an array"),
        (dict, "an object"),
    )
    for kind, name in kinds:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def show(value: object, limit: int = 80) -> str:
    """A short, printable quotation of ``value`` for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def safe_key(key: object) -> str:
    """``key`` as text that any JSON encoder accepts (lone surrogates escaped)."""
    text = key if isinstance(key, str) else str(key)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
