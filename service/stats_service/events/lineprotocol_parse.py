"""Parse InfluxDB line protocol, following the grammar of InfluxDB's own parser.

The encoder (:mod:`stats_service.events.lineprotocol`) writes what this module
reads. A body is split into lines the way ``influxd`` splits it (a newline
inside a quoted string field does not end the line); blank lines and lines
whose first non-blank character is ``#`` are skipped. Each other line is
``measurement[,tag=value...] field=value[,field=value...] [timestamp]``:

* a backslash escapes the character after it wherever a separator could
  stand: in the measurement ``\\,`` ``\\ `` ``\\=`` and ``\\"`` are unescaped;
  in tag keys, tag values ``\\,`` ``\\ `` and ``\\=``; in field keys
  ``\\,`` ``\\ `` ``\\=`` and ``\\"``; any other backslash is kept literally;
* string field values are double-quoted, with ``\\\\`` and ``\\"`` unescaped
  (every other character, newlines included, is kept as is);
* ``12i`` is an integer (signed 64-bit), ``12u`` an unsigned integer
  (:class:`UnsignedInt`, 0 to 2**64 - 1), ``t``, ``T``, ``true``, ``True``,
  ``TRUE``, ``f``, ``F``, ``false``, ``False``, ``FALSE`` are booleans, and
  every other number is a float (``NaN`` and infinities are refused);
* the optional timestamp is an integer in the request's precision (``n`` or
  ``ns``, ``u`` or ``us``, ``ms``, ``s``, ``m``, ``h``), and the result must lie
  in InfluxDB's range (``-2**63 + 2`` to ``2**63 - 2`` nanoseconds);
* duplicate tag keys are an error; a field key given twice keeps the last
  value, as InfluxDB does.

Where this parser is stricter than ``influxd`` 1.6 (which stores bytes as they
come), it says so: a line must be valid UTF-8 and at most ``max_line_bytes``
long. Every failure is a :class:`LineProtocolError` whose message uses
InfluxDB's wording (``missing fields``, ``invalid boolean``, ...); no other
exception escapes :func:`parse_line` or :func:`parse_lines` for any input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "MAX_KEY_BYTES",
    "PRECISION_NS",
    "LineError",
    "LineProtocolError",
    "ParseResult",
    "ParsedPoint",
    "UnsignedInt",
    "parse_line",
    "parse_lines",
    "split_lines",
]

MAX_KEY_BYTES: Final = 65_535
"""InfluxDB's limit on a series key (measurement, tags and one field key)."""

PRECISION_NS: Final[dict[str, int]] = {
    "": 1,
    "n": 1,
    "ns": 1,
    "u": 1_000,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
"""Nanoseconds per timestamp unit, by the ``precision`` names InfluxDB accepts."""

_MIN_TIME_NS: Final = -(2**63) + 2
_MAX_TIME_NS: Final = 2**63 - 2
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
_BOOLEANS: Final[dict[bytes, bool]] = {
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
_SHOWN_LINE_BYTES: Final = 256


class UnsignedInt(int):
    """An integer field written with the ``u`` suffix (0 to 2**64 - 1)."""

    __slots__ = ()


FieldValue = str | int | float | bool


class LineProtocolError(ValueError):
    """One line is not valid line protocol; ``reason`` is InfluxDB's wording for why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ParsedPoint:
    """One parsed line: names unescaped, values typed, time in ns (``None``: not given)."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, FieldValue]
    time_ns: int | None
    line_number: int = 0
    """1-based number of the line in its body (0 when parsed alone)."""


@dataclass(frozen=True, slots=True)
class LineError:
    """A line that was refused: its 1-based number, its text (shortened) and why."""

    line_number: int
    line: str
    reason: str

    @staticmethod
    def shown(line: bytes) -> str:
        """``line`` as text for an error message: at most 256 bytes, invalid UTF-8 replaced."""
        text = line[:_SHOWN_LINE_BYTES].decode("utf-8", "replace")
        return text + "..." if len(line) > _SHOWN_LINE_BYTES else text

    def describe(self) -> str:
        """InfluxDB's wording: ``unable to parse '<line>': <reason>``."""
        return f"unable to parse '{self.line}': {self.reason}"


@dataclass(slots=True)
class ParseResult:
    """The points of a body in order, and the lines refused."""

    points: list[ParsedPoint] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


def split_lines(body: bytes) -> Iterator[tuple[int, bytes]]:
    """``(line number, line)`` for every line of ``body`` that is not blank or a comment.

    A newline inside a quoted string field value (after the first unescaped
    space, past an ``=``) does not end the line, as in ``influxd``.
    Leading spaces, tabs and NUL bytes are stripped.
    """
    number = 0
    position = 0
    size = len(body)
    while position < size:
        end = _scan_line(body, position)
        number += 1
        block = body[position:end]
        position = end + 1
        start = 0
        while start < len(block) and block[start] in _BLANKS:
            start += 1
        if start >= len(block) or block[start] == 0x23:  # '#': a comment
            continue
        yield number, block[start:]
    return


def _scan_line(buf: bytes, i: int) -> int:
    """The index of the newline that ends the line starting at ``i`` (or ``len(buf)``)."""
    size = len(buf)
    newline = buf.find(b"\n", i)
    if newline < 0:
        newline = size
    if buf.find(b'"', i, newline) < 0:
        return newline  # no quote, so the first newline ends the line
    if buf.find(b"\\", i, newline) < 0 and _PLAIN_LINE_BYTES.fullmatch(buf, i, newline):
        return newline  # quotes only around plain string values, all closed
    quoted = False
    in_fields = False
    equals = 0
    commas = 0
    while i < size:
        byte = buf[i]
        if byte == _BACKSLASH and i + 2 < size:
            i += 2
            continue
        if byte == _SPACE:
            in_fields = True
        if in_fields:
            if not quoted and byte == _EQUALS:
                i += 1
                equals += 1
                continue
            if not quoted and byte == _COMMA:
                i += 1
                commas += 1
                continue
            if byte == _QUOTE and equals > commas:
                i += 1
                quoted = not quoted
                continue
        if byte == _NEWLINE and not quoted:
            return i
        i += 1
    return size


def parse_lines(
    body: bytes, *, precision: str = "ns", max_line_bytes: int | None = None
) -> ParseResult:
    """Parse every line of ``body``; bad lines are reported, never sink the others.

    ``precision`` must be a key of :data:`PRECISION_NS` (``ValueError`` otherwise).
    """
    multiplier = PRECISION_NS.get(precision)
    if multiplier is None:
        raise ValueError(f"unknown precision {precision!r}")
    result = ParseResult()
    points = result.points
    limit = max_line_bytes if max_line_bytes is not None else len(body) + 1
    size = len(body)
    position = 0
    number = 0
    while position < size:
        # The usual line: plain, so its newline ends it and one match parses it.
        newline = body.find(b"\n", position)
        if newline < 0:
            newline = size
        number += 1
        segment = body[position:newline]
        if segment[:1] not in _SPECIAL_STARTS and len(segment) <= limit:
            try:
                text = segment.decode("utf-8")
            except UnicodeDecodeError:
                text = "\\"  # left to the general path, which reports it
            if "\\" not in text:
                match = _PLAIN_LINE.fullmatch(text)
                point = None if match is None else _plain_point(match, multiplier, number)
                if point is not None:
                    points.append(point)
                    position = newline + 1
                    continue
        # Everything else: find the line's true end, then the exact parser.
        end = _scan_line(body, position)
        line = _strip_blanks(body[position:end])
        position = end + 1
        if not line or line[0] == 0x23:  # blank, or a '#' comment
            continue
        try:
            if len(line) > limit:
                _too_long(line, limit)
            points.append(_parse(line, multiplier, number))
        except LineProtocolError as exc:
            result.errors.append(LineError(number, LineError.shown(line), exc.reason))
    return result


_SPECIAL_STARTS: Final = frozenset({b"", b" ", b"\t", b"\x00", b"#"})


def _strip_blanks(line: bytes) -> bytes:
    start = 0
    while start < len(line) and line[start] in _BLANKS:
        start += 1
    return line[start:]


def _too_long(line: bytes, max_line_bytes: int) -> None:
    raise LineProtocolError(f"line is {len(line)} bytes long; at most {max_line_bytes} are allowed")


def parse_line(line: bytes, *, precision: str = "ns") -> ParsedPoint:
    """Parse one line (no newline; leading blanks are skipped); :class:`LineProtocolError`."""
    multiplier = PRECISION_NS.get(precision)
    if multiplier is None:
        raise ValueError(f"unknown precision {precision!r}")
    return _parse(line, multiplier, 0)


def _parse(line: bytes, multiplier: int, number: int) -> ParsedPoint:
    start = 0
    while start < len(line) and line[start] in _BLANKS:
        start += 1
    line = line[start:]
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise LineProtocolError("invalid UTF-8") from None
    if "\\" not in text:
        fast = _parse_plain(text, multiplier, number)
        if fast is not None:
            return fast
    return _parse_exact(line, multiplier, number)


def _parse_exact(line: bytes, multiplier: int, number: int) -> ParsedPoint:
    """The scanner in the shape of influxd's: every line, every error."""
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
        fields[key] = _field_value(line[equals + 1 : value_end])
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
    if buf[start:i] not in _BOOLEANS:
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
    if not _MIN_TIME_NS <= time_ns <= _MAX_TIME_NS:
        raise LineProtocolError(f"time outside range {_MIN_TIME_NS} - {_MAX_TIME_NS}")
    if buf[i:].strip(b" "):
        raise LineProtocolError("point is invalid")
    return time_ns


# --- the fast path -----------------------------------------------------------------
#
# Most lines have no backslash, plain names and plain values. For them one
# regular expression (run in C) finds the parts and the values are typed
# directly; the result is the one the scanner would give. Anything unusual
# (and every error) goes to the scanner, which has the last word.

_NAME: Final = r'[^,= "\\]+'
_VALUE: Final = r'(?:"[^"\\]*"|[^,= "\\]+)'
_PLAIN_LINE_TEXT: Final = (
    "(" + _NAME + ")((?:," + _NAME + "=" + _NAME + ")*) "
    "(" + _NAME + "=" + _VALUE + "(?:," + _NAME + "=" + _VALUE + ")*)"
    "(?: (-?[0-9]+))? *"
)
_PLAIN_LINE: Final = re.compile(_PLAIN_LINE_TEXT)
_PLAIN_LINE_BYTES: Final = re.compile(_PLAIN_LINE_TEXT.encode())
_PLAIN_TAG: Final = re.compile(",(" + _NAME + ")=(" + _NAME + ")")
_PLAIN_FIELD: Final = re.compile("(" + _NAME + ")=(" + _VALUE + ")")
_PLAIN_FLOAT: Final = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_PLAIN_INT: Final = re.compile(r"-?[0-9]+i")
_PLAIN_UINT: Final = re.compile(r"[0-9]+u")
_TEXT_BOOLEANS: Final = {key.decode(): value for key, value in _BOOLEANS.items()}


def _parse_plain(text: str, multiplier: int, number: int) -> ParsedPoint | None:
    """The point of a plain line (no backslash), or ``None`` to leave it to the scanner."""
    match = _PLAIN_LINE.fullmatch(text)
    return None if match is None else _plain_point(match, multiplier, number)


def _plain_point(match: re.Match[str], multiplier: int, number: int) -> ParsedPoint | None:  # noqa: PLR0912
    """The point of a plain line's match, or ``None`` to leave the line to the scanner."""
    text = match.string
    measurement, tag_text, field_text, stamp = match.groups()
    if len(measurement) + len(tag_text) > MAX_KEY_BYTES // 4 and (
        len(text[: match.end(2)].encode()) > MAX_KEY_BYTES
    ):
        return None
    tags: dict[str, str] = {}
    if tag_text:
        pairs = _PLAIN_TAG.findall(tag_text)
        tags = dict(sorted(pairs))
        if len(tags) != len(pairs):
            return None
    fields: dict[str, FieldValue] = {}
    booleans = _TEXT_BOOLEANS
    for key, raw in _PLAIN_FIELD.findall(field_text):
        value: FieldValue
        if raw[0] == '"':
            value = raw[1:-1]
        elif raw in booleans:
            value = booleans[raw]
        elif raw[-1] == "i":
            if _PLAIN_INT.fullmatch(raw) is None:
                return None
            value = int(raw[:-1])
            if not _INT64_MIN <= value <= _INT64_MAX:
                return None
        elif raw[-1] == "u":
            if _PLAIN_UINT.fullmatch(raw) is None or int(raw[:-1]) > _UINT64_MAX:
                return None
            value = UnsignedInt(int(raw[:-1]))
        else:
            if _PLAIN_FLOAT.fullmatch(raw) is None:
                return None
            value = float(raw)
            if not math.isfinite(value):
                return None
        fields[key] = value
    time_ns: int | None = None
    if stamp is not None:
        when = int(stamp)
        time_ns = when * multiplier
        if not (_INT64_MIN <= when <= _INT64_MAX and _MIN_TIME_NS <= time_ns <= _MAX_TIME_NS):
            return None
    return ParsedPoint(measurement, tags, fields, time_ns, number)


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
    boolean = _BOOLEANS.get(raw)
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
