"""Parse InfluxDB line protocol, following the grammar of InfluxDB's own parser.

The encoder (:mod:`stats_service.storage.influx.lineprotocol`) writes what this module
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

Plain lines (no backslash; names without quotes, commas or equals signs;
string values without quotes) are read on a fast path, one regular
expression each, which gives exactly what the exact scanner
(:mod:`stats_service.events.lineprotocol_scan`) gives; every other line, and
every error, is the scanner's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from stats_service.events.lineprotocol_scan import (
    BOOLEANS,
    MAX_KEY_BYTES,
    MAX_TIME_NS,
    MIN_TIME_NS,
    FieldValue,
    LineProtocolError,
    ParsedPoint,
    UnsignedInt,
    scan_exact,
)

__all__ = [
    "MAX_KEY_BYTES",
    "PRECISION_NS",
    "LineError",
    "LineProtocolError",
    "ParseResult",
    "ParsedPoint",
    "TooManyLines",
    "UnsignedInt",
    "parse_line",
    "parse_lines",
    "split_lines",
]

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
_SHOWN_LINE_BYTES: Final = 256

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


class TooManyLines(ValueError):
    """A body holds more lines than allowed; parsing stopped at the first one over."""

    def __init__(self, max_lines: int) -> None:
        super().__init__(f"more than {max_lines} lines")
        self.max_lines = max_lines


def parse_lines(
    body: bytes,
    *,
    precision: str = "ns",
    max_line_bytes: int | None = None,
    max_lines: int | None = None,
) -> ParseResult:
    """Parse every line of ``body``; bad lines are reported, never sink the others.

    ``precision`` must be a key of :data:`PRECISION_NS` (``ValueError`` otherwise).
    More than ``max_lines`` lines (blank lines and comments not counted) raise
    :class:`TooManyLines` as soon as the first one over is reached.
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
    most = max_lines if max_lines is not None else size + 1
    while position < size:
        if len(points) + len(result.errors) >= most:
            if _has_line(body, position):
                raise TooManyLines(most)
            break
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


def _has_line(body: bytes, position: int) -> bool:
    """Whether a line that is not blank or a comment starts at or after ``position``."""
    for _ in split_lines(body[position:]):
        return True
    return False


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
    return scan_exact(line, multiplier, number)


# --- the fast path -----------------------------------------------------------------
#
# Most lines have no backslash, plain names and plain values. For them one
# regular expression (run in C) finds the parts and the values are typed
# directly; the result is the one the scanner would give. Anything unusual
# (and every error) goes to the scanner, which has the last word.

# Tabs and NULs count as blanks to influxd in places; lines holding them go to the scanner.
_NAME: Final = r'[^,= "\\\t\x00]+'
_VALUE: Final = r'(?:"[^"\\]*"|[^,= "\\\t\x00]+)'
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
_PLAIN_UINT: Final = re.compile(r"[0-9]+u")
_TAGS_CACHE_SIZE: Final = 4096
_plain_tags: dict[str, dict[str, str]] = {}
"""The tags of recently seen plain tag sections (``,k=v,...``); shared, never mutated."""
_TEXT_BOOLEANS: Final = {key.decode(): value for key, value in BOOLEANS.items()}


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
    tags = _plain_tags.get(tag_text)
    if tags is None:
        pairs = _PLAIN_TAG.findall(tag_text)
        tags = dict(sorted(pairs))
        if len(tags) != len(pairs):
            return None
        if len(_plain_tags) >= _TAGS_CACHE_SIZE:
            _plain_tags.clear()
        _plain_tags[tag_text] = tags
    fields: dict[str, FieldValue] = {}
    booleans = _TEXT_BOOLEANS
    for key, raw in _PLAIN_FIELD.findall(field_text):
        value: FieldValue
        if raw[0] == '"':
            value = raw[1:-1]
        elif raw in booleans:
            value = booleans[raw]
        elif raw[-1] == "i":
            digits = raw[1:-1] if raw[0] == "-" else raw[:-1]
            if not (digits.isascii() and digits.isdigit()):
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
        if not (_INT64_MIN <= when <= _INT64_MAX and MIN_TIME_NS <= time_ns <= MAX_TIME_NS):
            return None
    return ParsedPoint(measurement, tags, fields, time_ns, number, text[: match.end(2)])
