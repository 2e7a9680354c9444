"""The exact line-protocol scanner: influxd's grammar, byte by byte, with its words.

This is the scanner of InfluxDB's ``models`` package in Python, in the same
shape, so the two can be compared step by step: each scan function matches
one of influxd's, and each error carries influxd's wording. Every line goes
through it unless :mod:`stats_service.events.lineprotocol_parse` can read
it on its fast path; that module describes the grammar and is the one to use.
"""

from __future__ import annotations

import math
from typing import Final, NamedTuple

__all__ = [
    "BOOLEANS",
    "MAX_KEY_BYTES",
    "MAX_TIME_NS",
    "MIN_TIME_NS",
    "FieldValue",
    "LineProtocolError",
    "ParsedPoint",
    "UnsignedInt",
    "scan_exact",
]

MAX_KEY_BYTES: Final = 65_535
"""InfluxDB's limit on a series key (measurement, tags and one field key)."""

MIN_TIME_NS: Final = -(2**63) + 2
MAX_TIME_NS: Final = 2**63 - 2
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_UINT64_MAX: Final = 2**64 - 1
_BACKSLASH: Final = 0x5C
_QUOTE: Final = 0x22
_SPACE: Final = 0x20
_COMMA: Final = 0x2C
_EQUALS: Final = 0x3D
_NEWLINE: Final = 0x0A
_BLANKS: Final = frozenset(b" \t\x00")
_DIGITS: Final = frozenset(b"0123456789")
_NUMBER_STARTS: Final = frozenset(b"0123456789.-Nn")
BOOLEANS: Final[dict[bytes, bool]] = {
    b"t": True,
    b"T": True,
    b"true": True,
    b"True": True,
    b"TRUE": True,
    b"f": False,
    b"F": False,
    b"false": False,
    b"False": False,
    b"FALSE": False,
}


class UnsignedInt(int):
    """An integer field written with the ``u`` suffix (0 to 2**64 - 1)."""

    __slots__ = ()


FieldValue = str | int | float | bool


class LineProtocolError(ValueError):
    """One line is not valid line protocol; ``reason`` is InfluxDB's wording for why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ParsedPoint(NamedTuple):
    """One parsed line: names unescaped, values typed, time in ns (``None``: not given).

    A named tuple: one is built per line, and a tuple builds fastest. Points of
    one series may share their ``tags`` dict: treat it as read-only.
    """

    measurement: str
    tags: dict[str, str]
    fields: dict[str, FieldValue]
    time_ns: int | None
    line_number: int = 0
    """1-based number of the line in its body (0 when parsed alone)."""
    series: str | None = None
    """The line's text up to the fields (measurement and tags) when it is plain, else None."""


def scan_exact(line: bytes, multiplier: int, number: int = 0) -> ParsedPoint:
    """Parse one line (UTF-8, leading blanks stripped) as influxd does; times in ``multiplier`` ns.

    Raises :class:`LineProtocolError` with influxd's reason for every line it refuses.
    """
    position, in_tags = _scan_measurement(line)
    tag_spans: list[tuple[int, int, int]] = []
    if in_tags:
        position = _scan_tags(line, position, tag_spans)
    key_end = position
    if key_end > MAX_KEY_BYTES:
        raise LineProtocolError(f"max key length exceeded: {key_end} > {MAX_KEY_BYTES}")
    position, field_spans = _scan_fields(line, position)
    if not field_spans:
        raise LineProtocolError("missing fields")
    time_ns = _scan_time(line, position, multiplier)
    measurement_end = tag_spans[0][0] - 1 if tag_spans else key_end
    measurement = _unescape(line[:measurement_end], _NAME_ESCAPES)
    tags = _tags(line, tag_spans)
    fields: dict[str, FieldValue] = {}
    for key_start, equals, value_end in field_spans:
        key = _unescape(line[key_start:equals], _NAME_ESCAPES)
        try:
            fields[key] = _field_value(line[equals + 1 : value_end])
        except LineProtocolError:
            raise
        except ValueError:
            # A value the scan let through that no type reads (a misplaced quote
            # or comma): refused like every other bad line, never a crash.
            raise LineProtocolError("invalid field format") from None
    return ParsedPoint(measurement, tags, fields, time_ns, number)


def _scan_measurement(buf: bytes) -> tuple[int, bool]:
    """End of the measurement and whether tags follow (the index after the comma)."""
    if not buf or buf[0] == _COMMA:
        raise LineProtocolError("missing measurement")
    i = 0
    size = len(buf)
    while True:
        i += 1
        if i >= size:
            raise LineProtocolError("missing fields")
        if buf[i - 1] == _BACKSLASH:
            continue
        if buf[i] == _COMMA:
            return i + 1, True
        if buf[i] == _SPACE:
            return i, False


def _scan_tags(buf: bytes, i: int, spans: list[tuple[int, int, int]]) -> int:
    """Scan ``key=value`` pairs from ``i``; fill ``spans``; the index of the space after."""
    size = len(buf)
    while True:
        start = i
        # The tag key.
        if i >= size or buf[i] in (_SPACE, _COMMA, _EQUALS):
            raise LineProtocolError("missing tag key")
        while True:
            i += 1
            if i >= size or (buf[i] in (_SPACE, _COMMA) and buf[i - 1] != _BACKSLASH):
                raise LineProtocolError("missing tag value")
            if buf[i] == _EQUALS and buf[i - 1] != _BACKSLASH:
                break
        equals = i
        i += 1
        # The tag value.
        if i >= size or buf[i] in (_COMMA, _SPACE):
            raise LineProtocolError("missing tag value")
        while True:
            i += 1
            if i >= size:
                raise LineProtocolError("missing fields")
            byte = buf[i]
            if buf[i - 1] == _BACKSLASH:
                continue
            if byte == _EQUALS:
                raise LineProtocolError("invalid tag format")
            if byte == _COMMA:
                spans.append((start, equals, i))
                i += 1
                break
            if byte == _SPACE:
                spans.append((start, equals, i))
                return i


def _tags(buf: bytes, spans: list[tuple[int, int, int]]) -> dict[str, str]:
    raw_keys = [buf[start:equals] for start, equals, _ in spans]
    if len(set(raw_keys)) != len(raw_keys):
        raise LineProtocolError("duplicate tags")
    tags: dict[str, str] = {}
    for (_, equals, end), raw_key in sorted(zip(spans, raw_keys, strict=True), key=_by_key):
        tags[_unescape(raw_key, _TAG_ESCAPES)] = _unescape(buf[equals + 1 : end], _TAG_ESCAPES)
    return tags


def _by_key(item: tuple[tuple[int, int, int], bytes]) -> bytes:
    return item[1]


def _scan_fields(  # noqa: PLR0912  one pass in the shape of influxd's scanner, to compare
    buf: bytes, i: int
) -> tuple[int, list[tuple[int, int, int]]]:
    """Scan the field section from ``i``: its end and ``(key start, '=', value end)``."""
    size = len(buf)
    while i < size and buf[i] in _BLANKS:
        i += 1
    quoted = False
    equals_count = 0
    commas = 0
    key_start = i
    equals_at = -1
    spans: list[tuple[int, int, int]] = []
    while i < size:
        byte = buf[i]
        if byte == _BACKSLASH and i + 1 < size:
            i += 2
            continue
        if byte == _QUOTE and equals_count > commas:
            quoted = not quoted
            i += 1
            continue
        if byte == _EQUALS and not quoted:
            equals_count += 1
            before = buf[i - 1]
            if before in (_SPACE, _COMMA) and (i < 2 or buf[i - 2] != _BACKSLASH):
                raise LineProtocolError("missing field key")
            if i + 1 >= size or buf[i + 1] in (_COMMA, _SPACE):
                raise LineProtocolError("missing field value")
            equals_at = i
            following = buf[i + 1]
            if following in _NUMBER_STARTS:
                i = _scan_number(buf, i + 1)
                continue
            if following != _QUOTE:
                i = _scan_boolean(buf, i + 1)
                continue
        if byte == _COMMA and not quoted:
            commas += 1
            spans.append((key_start, equals_at, i))
            key_start = i + 1
        if byte == _SPACE and not quoted:
            break
        i += 1
    if quoted:
        raise LineProtocolError("unbalanced quotes")
    if equals_count == 0 or commas != equals_count - 1:
        raise LineProtocolError("invalid field format")
    spans.append((key_start, equals_at, i))
    return i, spans


def _scan_number(buf: bytes, i: int) -> int:  # noqa: PLR0912  as influxd's scanNumber
    """Check the number starting at ``i``; the index after it."""
    start = i
    size = len(buf)
    is_int = is_unsigned = decimal = scientific = False
    if buf[i] == 0x2D:  # '-'
        i += 1
        if i == size:
            raise LineProtocolError("invalid number")
    while i < size:
        byte = buf[i]
        if byte in (_COMMA, _SPACE):
            break
        if byte == 0x69 and i > start and not (is_int or is_unsigned):  # 'i'
            is_int = True
            i += 1
            continue
        if byte == 0x75 and i > start and not (is_int or is_unsigned):  # 'u'
            is_unsigned = True
            i += 1
            continue
        if byte == 0x2E:  # '.'
            if decimal:
                raise LineProtocolError("invalid number")
            decimal = True
        if i > start and byte in b"eE":
            scientific = True
            i += 1
            continue
        if byte in b"+-" and buf[i - 1] in b"eE":
            i += 1
            continue
        if byte not in _DIGITS and byte != 0x2E:
            raise LineProtocolError("invalid number")
        i += 1
    if (is_int or is_unsigned) and (decimal or scientific):
        raise LineProtocolError("invalid number")
    digits = i - start - (is_int or is_unsigned) - decimal - (buf[start] == 0x2D)
    if digits <= 0:
        raise LineProtocolError("invalid number")
    _check_number(buf[start:i], is_int=is_int, is_unsigned=is_unsigned)
    return i


def _check_number(text: bytes, *, is_int: bool, is_unsigned: bool) -> None:
    """Refuse a scanned number whose value is out of its type's range."""
    if is_int or is_unsigned:
        if text[-1] not in b"iu":
            raise LineProtocolError("invalid number")
        value = int(text[:-1])
        if is_int and not _INT64_MIN <= value <= _INT64_MAX:
            raise LineProtocolError(f"unable to parse integer {_range_error(text[:-1])}")
        if is_unsigned and (text[0] == 0x2D or value > _UINT64_MAX):
            raise LineProtocolError(f"unable to parse unsigned {_range_error(text[:-1])}")
    else:
        try:
            number = float(text)
        except ValueError:
            raise LineProtocolError("invalid float") from None
        if not math.isfinite(number):
            raise LineProtocolError("invalid float")


def _range_error(digits: bytes) -> str:
    text = digits.decode()
    return f'{text}: strconv.ParseInt: parsing "{text}": value out of range'


def _scan_boolean(buf: bytes, i: int) -> int:
    """Check the boolean starting at ``i``; the index after it."""
    start = i
    size = len(buf)
    while i < size and buf[i] not in (_COMMA, _SPACE):
        i += 1
    if buf[start:i] not in BOOLEANS:
        raise LineProtocolError("invalid boolean")
    return i


def _scan_time(buf: bytes, i: int, multiplier: int) -> int | None:
    """The timestamp after the fields in ns, ``None`` when absent."""
    size = len(buf)
    while i < size and buf[i] in _BLANKS:
        i += 1
    start = i
    while i < size and buf[i] not in (_SPACE, _NEWLINE):
        if not (buf[i] in _DIGITS or (i == start and buf[i] == 0x2D)):
            raise LineProtocolError("bad timestamp")
        i += 1
    if i == start:
        return None
    text = buf[start:i]
    if text == b"-":
        raise LineProtocolError('strconv.ParseInt: parsing "-": invalid syntax')
    value = int(text)
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise LineProtocolError(f'strconv.ParseInt: parsing "{text.decode()}": value out of range')
    time_ns = value * multiplier
    if not MIN_TIME_NS <= time_ns <= MAX_TIME_NS:
        raise LineProtocolError(f"time outside range {MIN_TIME_NS} - {MAX_TIME_NS}")
    if buf[i:].strip(b" "):
        raise LineProtocolError("point is invalid")
    return time_ns


_NAME_ESCAPES: Final = frozenset(b',= "')
_TAG_ESCAPES: Final = frozenset(b",= ")


def _unescape(raw: bytes, escapable: frozenset[int]) -> str:
    """``raw`` with ``\\X`` replaced by ``X`` for every ``X`` in ``escapable``; as text."""
    if _BACKSLASH not in raw:
        return raw.decode("utf-8")
    out = bytearray()
    i = 0
    size = len(raw)
    while i < size:
        byte = raw[i]
        if byte == _BACKSLASH and i + 1 < size and raw[i + 1] in escapable:
            out.append(raw[i + 1])
            i += 2
            continue
        out.append(byte)
        i += 1
    return out.decode("utf-8")


def _field_value(raw: bytes) -> FieldValue:
    """The typed value of one checked field value."""
    first = raw[0]
    if first == _QUOTE:
        return _unescape_string(raw[1:-1])
    last = raw[-1]
    if last == 0x69:  # 'i'
        return int(raw[:-1])
    if last == 0x75:  # 'u'
        return UnsignedInt(int(raw[:-1]))
    boolean = BOOLEANS.get(raw)
    if boolean is not None:
        return boolean
    return float(raw)


def _unescape_string(raw: bytes) -> str:
    if _BACKSLASH not in raw:
        return raw.decode("utf-8")
    out = bytearray()
    i = 0
    size = len(raw)
    while i < size:
        byte = raw[i]
        if byte == _BACKSLASH and i + 1 < size and raw[i + 1] in (_BACKSLASH, _QUOTE):
            out.append(raw[i + 1])
            i += 2
            continue
        out.append(byte)
        i += 1
    return out.decode("utf-8")
