"""Reading request bodies under limits: size, media type, gzip, JSON and NDJSON.

The size limit is checked against ``Content-Length`` before anything is read,
and again while streaming (for chunked bodies); a gzip body is inflated in
bounded steps so a small bomb cannot grow past ``max_decompressed_bytes``.
"""

from __future__ import annotations

import json
import math
import sys
import zlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import orjson
from starlette.requests import Request

from stats_service.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

__all__ = [
    "check_framing",
    "decode_batch",
    "decode_json",
    "decode_ndjson",
    "finish_body",
    "media_type",
    "parse_media_type",
    "read_body",
    "read_limited",
    "require_json",
]

JSON_TYPES = frozenset({"application/json", "text/json"})
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonlines"})
_INFLATE_STEP = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_GZIP_MEMBERS = 1024  # each costs a fresh inflater: many empty ones would burn CPU
# orjson keeps an integer exact only within [-2**63, 2**64); beyond that it
# gives a float, silently rounded. Every such integer has at least 19 digits.
# Found by mapping every digit to "0" and all else to " " (a C-speed pass, far
# cheaper than a regular expression over a large batch).
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_DIGITS = b"0" * 19
# Longer integers are out of every range the event model accepts; they decode
# as this bound (with their sign) to spare int() its quadratic cost and limit.
_MAX_INT_DIGITS = 100
_HUGE: int = 10**_MAX_INT_DIGITS
_INFINITY = "number is infinity"  # how orjson refuses a number past the double range
_HUGE_DIGITS = b"0" * (_MAX_INT_DIGITS + 1)
# msgspec decodes every body first (it is about twice as fast as orjson and
# keeps every integer exact). It refuses what the exact path below refuses,
# except that it nests as deep as the interpreter's recursion limit allows,
# where orjson stops at 1024 levels: under a raised limit the exact path alone
# is used. Whatever msgspec refuses goes to the exact path, which gives the
# message (or, for nesting past msgspec's depth, the value).
_DECODER = msgspec.json.Decoder()
_MSGSPEC_ERRORS = (msgspec.MsgspecError, ValueError, RecursionError)
_MSGSPEC_MAX_RECURSION = 1024


def media_type(request: Request) -> str:
    """The request's media type without parameters, lower-cased ('' when absent)."""
    return parse_media_type(request.headers.get("content-type"))


def parse_media_type(content_type: str | None) -> str:
    """A Content-Type header's media type without parameters, lower-cased."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def require_json(content_type: str | None) -> None:
    """415 unless the body is declared as JSON (an absent Content-Type is taken as JSON)."""
    kind = parse_media_type(content_type)
    if kind and kind not in JSON_TYPES and not kind.endswith("+json"):
        raise UnsupportedMediaType(f"Content-Type {kind!r} is not accepted; send application/json")


async def read_body(
    request: Request,
    *,
    max_bytes: int,
    max_decompressed_bytes: int | None = None,
) -> bytes:
    """The body, inflated when ``Content-Encoding: gzip`` and a limit allows it."""
    return await read_limited(
        request.stream(),
        content_length=request.headers.get("content-length"),
        content_encoding=request.headers.get("content-encoding"),
        max_bytes=max_bytes,
        max_decompressed_bytes=max_decompressed_bytes,
    )


async def read_limited(
    chunks: AsyncIterator[bytes],
    *,
    content_length: str | None,
    content_encoding: str | None,
    max_bytes: int,
    max_decompressed_bytes: int | None = None,
) -> bytes:
    """Collect ``chunks`` under the limits; gzip only where a decompressed limit is given."""
    encoding = check_framing(
        content_length=content_length,
        content_encoding=content_encoding,
        max_bytes=max_bytes,
        max_decompressed_bytes=max_decompressed_bytes,
    )
    parts: list[bytes] = []
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > max_bytes:
            raise PayloadTooLarge(f"body is over the limit of {max_bytes} bytes")
        parts.append(chunk)
    body = parts[0] if len(parts) == 1 else b"".join(parts)
    return finish_body(body, encoding, max_bytes, max_decompressed_bytes)


def check_framing(
    *,
    content_length: str | None,
    content_encoding: str | None,
    max_bytes: int,
    max_decompressed_bytes: int | None = None,
) -> str:
    """Refuse a body by its headers alone (encoding, declared length); its encoding.

    The first half of :func:`read_limited`, for callers that receive the body
    themselves; :func:`finish_body` is the second.
    """
    encoding = (content_encoding or "identity").strip().lower()
    if encoding not in {"identity", ""} and (encoding != "gzip" or max_decompressed_bytes is None):
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported here")
    if content_length is not None:
        try:
            length = int(content_length)
        except ValueError:
            raise BadRequest("Content-Length is not a number") from None
        if length > max_bytes:
            raise PayloadTooLarge(f"body of {length} bytes is over the limit of {max_bytes}")
    return encoding


def finish_body(
    body: bytes, encoding: str, max_bytes: int, max_decompressed_bytes: int | None = None
) -> bytes:
    """The received ``body`` checked against ``max_bytes`` and inflated when gzip."""
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"body is over the limit of {max_bytes} bytes")
    if encoding == "gzip" and max_decompressed_bytes is not None:
        return gunzip(body, max_decompressed_bytes)
    return body


def gunzip(data: bytes, limit: int) -> bytes:
    """Inflate gzip ``data``, refusing to produce more than ``limit`` bytes.

    ``data`` must be one or more whole gzip members (RFC 1952 allows several,
    read one after the other) and nothing else: bytes after the last member
    are a bad body, never ignored.
    """
    out: list[bytes] = []
    produced = 0
    pending = data
    try:
        for _ in range(_MAX_GZIP_MEMBERS):
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            while True:
                piece = inflater.decompress(pending, _INFLATE_STEP)
                produced += len(piece)
                if produced > limit:
                    raise PayloadTooLarge(f"decompressed body is over the limit of {limit} bytes")
                out.append(piece)
                pending = inflater.unconsumed_tail
                if inflater.eof or (not pending and not piece):
                    break
            if not inflater.eof:
                raise BadRequest("gzip body is truncated")
            pending = inflater.unused_data
            if not pending:
                return b"".join(out)
            if not pending.startswith(_GZIP_MAGIC):
                raise BadRequest(
                    f"gzip body has {len(pending)} bytes after its end that are not gzip"
                )
    except zlib.error:
        raise BadRequest("body is not valid gzip") from None
    raise BadRequest(f"gzip body has more than {_MAX_GZIP_MEMBERS} members")


def decode_json(body: bytes) -> Any:
    """Parse one JSON document; 400 with the parser's reason when it is not."""
    if not body.strip():
        raise BadRequest("body is empty; a JSON document is required")
    if _msgspec_gives_exact(body):
        try:
            return _DECODER.decode(body)
        except _MSGSPEC_ERRORS:
            pass
    try:
        return _loads_exact(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None


def decode_batch(body: bytes, *, ndjson: bool) -> tuple[list[Any], dict[int, str]]:
    """The items of a batch body and the lines already refused (NDJSON only).

    A JSON body must be an array; 400 when it is not, or not JSON at all.
    """
    if ndjson:
        return decode_ndjson(body)
    items = decode_json(body)
    if not isinstance(items, list):
        raise BadRequest("a batch must be a JSON array (or NDJSON lines)")
    return items, {}


def decode_ndjson(body: bytes) -> tuple[list[Any], dict[int, str]]:
    """Parse newline-delimited JSON: ``(items, {index: error})``; a bad line is None."""
    items: list[Any] = []
    errors: dict[int, str] = {}
    index = 0
    decode = _DECODER.decode if _msgspec_gives_exact(body) else None
    for line in body.split(b"\n"):
        if not line.strip():
            continue
        if decode is not None:
            try:
                items.append(decode(line))
            except _MSGSPEC_ERRORS:
                pass
            else:
                index += 1
                continue
        try:
            items.append(_loads_exact(line))
        except orjson.JSONDecodeError as exc:
            items.append(None)
            errors[index] = f"line is not valid JSON: {exc}"
        index += 1
    if not items:
        raise BadRequest("body holds no JSON lines")
    return items, errors


def _msgspec_gives_exact(body: bytes) -> bool:
    """Whether msgspec decodes ``body`` to the values the exact path gives.

    It does unless the recursion limit was raised (see ``_DECODER``) or the
    body has an integer of more than ``_MAX_INT_DIGITS`` digits, which the
    exact path decodes as that bound and msgspec exactly.
    """
    if sys.getrecursionlimit() > _MSGSPEC_MAX_RECURSION:
        return False
    return _HUGE_DIGITS not in body.translate(_DIGITS_ONLY)


def _loads_exact(data: bytes) -> Any:
    """One JSON document with every integer exact, however large.

    orjson decides validity (syntax, UTF-8, surrogates, NaN) and decodes almost
    every body. Only when the text holds a run of 19 or more digits, which an
    integer orjson would round (or refuse, past 1e308) must have, is it decoded
    again by the standard library, whose integers are exact: the event model
    then refuses any outside signed 64-bit by key instead of storing a
    rounded float.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if not str(exc).startswith(_INFINITY) or not _has_long_digits(data):
            raise
    else:
        if not _has_long_digits(data):
            return value
    try:
        return json.loads(
            data.decode("utf-8"),
            parse_int=_exact_int,
            parse_float=_finite_float,
            parse_constant=_no_constant,
        )
    except (ValueError, RecursionError) as exc:
        raise orjson.JSONDecodeError(str(exc), "", 0) from None


def _has_long_digits(data: bytes) -> bool:
    return _LONG_DIGITS in data.translate(_DIGITS_ONLY)


def _exact_int(text: str) -> int:
    if len(text) > _MAX_INT_DIGITS:
        return -_HUGE if text.startswith("-") else _HUGE
    return int(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{_INFINITY} when parsed as double: {text[:20]}")
    return value
