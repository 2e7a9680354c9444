"""The normalised event every ingest path produces and every store keeps.

The model is pure: no I/O, no clock (callers pass ``now_ns``), no settings.
It turns one decoded JSON payload into one :class:`Event`, or raises
:class:`~stats_service.errors.InvalidEvent` naming the offending key. No other
exception escapes for any JSON-decodable input.

This module states the contract and exports the model's public names; the
parts sit in modules with one job each: ``keys`` (name rules), ``times``
(time parsing and formatting), ``sizes`` (string sizes, integer range),
``messages`` (how errors quote values), ``event`` (:class:`Event`,
:class:`Limits`), ``normalise`` (the checks every event goes through),
``forms`` (the event and point forms) and ``fast`` (the one-pass path for
flat events).

Two payload forms are accepted:

* the **event** form, ``{"event": "pnc.user.login", "uid": "oisin", ...data}``
  (:func:`parse_event`), whose measurement is configured by the service;
* the **point** form, ``{"measurement": "cpu", "tags": {...}, "fields": {...}}``
  (:func:`parse_point`).

:func:`parse_item` picks the form for one item of a batch.

Key rule
--------
Every tag key and every field key, after flattening, must match
``^[A-Za-z][A-Za-z0-9_]{0,127}$``: an ASCII letter, then at most 127 ASCII
letters, digits or underscores (so never a leading ``_``). The keys in
:data:`RESERVED_KEYS` (``time``, ``event_id``, ``measurement``, ``identity``) are
never allowed as tag or data keys: the service sets them.

Nested data objects are flattened by joining keys with ``_``
(``{"a": {"b": 1}}`` becomes ``a_b = 1``). Each nested key must match
``^[A-Za-z0-9][A-Za-z0-9_]*$`` and the joined key must satisfy the key rule.
``Limits.max_depth`` is the number of nested object levels allowed: with
``max_depth=1``, ``{"a": {"b": 1}}`` passes and ``{"a": {"b": {"c": 1}}}`` fails.
Tags, fields and flattened keys share one namespace: a key that appears twice
is an error, never a silent overwrite.

Values
------
Strings, booleans, 64-bit signed integers and finite floats are kept; lists are
stored as their compact JSON text; ``null`` is dropped. Every string must be
valid Unicode (no lone surrogates) and at most ``Limits.max_string_bytes`` UTF-8
bytes. Tag values are strings without control characters that do not end with
a backslash (line protocol cannot write either); an empty tag value is dropped.
Every event also carries the tag ``identity`` (the authenticated sender, which
``max_string_bytes`` does not limit) and, in the event form, the tag ``event``
and the field ``uid``. A data key listed in ``tag_keys`` (configured
low-cardinality keys) whose value is a string becomes a tag instead of a field.

Totals
------
An event holds at most ``Limits.max_keys`` tags plus fields (``identity``,
``event`` and ``uid`` included). The UTF-8 sizes of all tag and field keys and
string values, counting every non-string value as 8 bytes, add up to at most
``Limits.max_event_bytes``.
"""

from __future__ import annotations

from stats_service.events.event import Event, FieldValue, Limits, to_flat_dict
from stats_service.events.forms import parse_event, parse_item, parse_point
from stats_service.events.ids import new_event_id
from stats_service.events.keys import RESERVED_KEYS, is_valid_event_id
from stats_service.events.times import format_time, parse_time

__all__ = [
    "RESERVED_KEYS",
    "Event",
    "FieldValue",
    "Limits",
    "format_time",
    "is_valid_event_id",
    "new_event_id",
    "parse_event",
    "parse_item",
    "parse_point",
    "parse_time",
    "to_flat_dict",
]
