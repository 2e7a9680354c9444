"""A generated corpus of batch bodies and items, and the answers the service gives them.

The answers in ``data/batch_answers.json.gz`` were recorded with the code of
commit 5fb54c7, before bodies were decoded with msgspec and before the event
model was split (hand-written checks over orjson output), by running this
module there::

    .venv/bin/python -m tests.unit.service.events.batch_corpus record

``test_batch_corpus.py`` replays the same corpus through today's code and
requires the same answer for every body and every item: the same events (ids,
times, tags and fields in the same order) and the same error messages and keys.
The corpus is a fixed function of its seed, so it needs no stored inputs.
Recording again replaces the oracle with today's answers: do it only for a
change of answers that is meant.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from stats_service.api.body import decode_batch
from stats_service.errors import InvalidEvent, StatsServiceError
from stats_service.events.model import Event, Limits, is_valid_event_id, parse_item
from stats_service.ingest import Ingestor
from stats_service.storage.base import EventStore

__all__ = ["ANSWERS", "answer_body", "answer_item", "bodies", "items", "recorded"]

ANSWERS = Path(__file__).resolve().parent / "data" / "batch_answers.json.gz"
SEED = 20261204
NOW_NS = 1_763_850_000_000_000_000
IDENTITY = "statsbob"
MEASUREMENT = "analytics"
LIMITS = Limits(max_event_bytes=2048, max_string_bytes=64, max_keys=12, max_depth=2)
TAG_KEYS = frozenset({"env", "region"})
MAX_BATCH_EVENTS = 30

_KEYS = [
    "event", "uid", "time", "event_id", "tags", "measurement", "fields", "identity",
    "page", "n", "ratio", "ok", "env", "region", "a", "a_b", "b", "Z9", "x" * 128, "x" * 129,
    "_x", "9a", "a-b", "a.b", "", "caf\u00e9", "\ud800", "A", "user", "count",
]  # fmt: skip
_SEGMENTS = ["b", "c", "1", "_c", "c-d", "time", "id", "", "event", "x" * 130]
_TEXTS = [
    "", "prod", "page.view", "user-1", "/docs/1", "a\\", "x\ny", "tab\there", "\x7f", "caf\u00e9",
    "\u65e5\u672c", "\ud83d\ude00", "\ud800", "end\\\\", "z" * 64, "z" * 65, "\u00e9" * 33,
    "2025-11-22T10:20:30.123456789Z", "2025-11-22T10:20:30Z", "2025-11-22 10:20:30",
    "2025-11-22", "2025-11-22T10:20:30+01:00", "2025-11-22T10:20:30.5-0530", "2025-13-01",
    "2025-02-30T00:00:00Z", "2025-11-22T24:00:00Z", "1969-12-31T23:59:59Z", "2262-04-12T00:00:00Z",
    "2025-11-22T10:20:30.1234567891Z", "2025-11-22T10:20:30.Z", "2025-11-22T10:20:30,5Z",
    "2025-11-22t10:20:30z", "\uff12025-11-22T10:20:30Z", "entry_1", "01HX-id.v:1", "-bad",
    "a" * 129, "\u0661\u0662", "null", "1e400",
]  # fmt: skip
_NUMBERS: list[Any] = [
    0, 1, -1, 7, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 10**30,
    10**120, -(10**150), int("31415926" * 16), -int("9" * 130), int("27" * 1000),
    1_763_850_000, 9_223_372_036, 9_223_372_037, 0.5, -0.0, 1e-300, 1e300,
    1.5e9, 1_763_850_000.123456, 3.14159,
]  # fmt: skip


def _scalar(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.35:
        return rng.choice(_TEXTS)
    if roll < 0.65:
        return rng.choice(_NUMBERS)
    if roll < 0.75:
        return rng.choice([True, False])
    if roll < 0.82:
        return None
    return f"v{rng.randrange(1000)}"


def _value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth < 4 and roll < 0.12:
        return {rng.choice(_SEGMENTS): _value(rng, depth + 1) for _ in range(rng.randrange(4))}
    if depth < 4 and roll < 0.2:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return _scalar(rng)


def _event(rng: random.Random, number: int) -> dict[str, Any]:
    """Mostly valid event-form items, each with a few things that may be wrong."""
    item: dict[str, Any] = {"event": f"page.view{number % 5}", "uid": f"user-{number % 97}"}
    if rng.random() < 0.7:
        item["event_id"] = f"entry_{number:032x}"
    if rng.random() < 0.7:
        item["time"] = f"2025-11-22T10:{number % 60:02d}:{number % 59:02d}.{number:09d}Z"
    if rng.random() < 0.5:
        item["tags"] = {"env": "prod"}
    item["page"] = f"/docs/{number % 50}"
    item["n"] = number
    item["ratio"] = number / 7
    for _ in range(rng.choice([0, 0, 0, 1, 1, 2, 3])):
        key = rng.choice(_KEYS)
        if key == "tags" and rng.random() < 0.7:
            item[key] = {rng.choice(_KEYS): _value(rng, 3) for _ in range(rng.randrange(3))}
        else:
            item[key] = _value(rng, 0)
    if rng.random() < 0.05:
        item.pop(rng.choice(["event", "uid"]))
    return item


def _point(rng: random.Random, number: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "measurement": rng.choice(["cpu", "cpu.load-1", "9cpu", "", "m" * 129]),
        "fields": {"value": number / 3, "count": number},
    }
    if rng.random() < 0.5:
        item["tags"] = {"host": f"h{number % 3}", "env": rng.choice(_TEXTS)}
    if rng.random() < 0.5:
        item["time"] = rng.choice([*_NUMBERS, *_TEXTS])
    if rng.random() < 0.3:
        item[rng.choice(["event_id", "fields", "extra", "tags", "time"])] = _value(rng, 0)
    return item


def _any(rng: random.Random) -> Any:
    return rng.choice([None, 1, "text", [1, 2], [], {}, True])


def items(count: int = 1000) -> list[Any]:
    """The decoded items of the corpus: events, points and other JSON values."""
    rng = random.Random(SEED)
    out: list[Any] = []
    for number in range(count):
        roll = rng.random()
        if roll < 0.75:
            out.append(_event(rng, number))
        elif roll < 0.95:
            out.append(_point(rng, number))
        else:
            out.append(_any(rng))
    return out


def _dumps(value: Any, rng: random.Random) -> bytes:
    """JSON text for ``value``; lone surrogates (escaped or raw) and huge integers included."""
    return json.dumps(value, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")


_BREAKERS = [
    b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"1" + b"0" * 400 + b".0",
    b"1" + b"0" * 400, b"27" * 2200, b"12345678901234567890",
    b'"\\ud800"', b'"\\udc00\\ud800"', b'"\x80"',
    b'"\xed\xa0\x80"', b"\xef\xbb\xbf", b"01", b"1.", b"-", b'"\t"', b"[" * 1100 + b"]" * 1100,
    b",", b"}", b"", b" ", b'{"a":1,"a":2}', b"true", b"null", b"\x00", b"\x0c",
]  # fmt: skip


def _surrogate(value: Any) -> bool:
    return "\\ud8" in json.dumps(value)


def bodies(count: int = 400) -> list[tuple[str, bytes]]:
    """(``json`` or ``ndjson``, body) pairs: batches, broken batches and odd documents."""
    rng = random.Random(SEED + 1)
    pool = [item for item in items(600) if not _surrogate(item)] + items(20)
    out: list[tuple[str, bytes]] = []
    for _ in range(count):
        chosen = [rng.choice(pool) for _ in range(rng.choice([0, 1, 2, 5, 12, 25, 31]))]
        kind = rng.choice(["json", "ndjson"])
        if kind == "json":
            body = _dumps(chosen, rng)
        else:
            lines = [_dumps(item, rng) for item in chosen]
            for _ in range(rng.choice([0, 0, 1, 2])):
                lines.insert(rng.randrange(len(lines) + 1), rng.choice([b"", b"  ", b"\r", b"\t"]))
            body = rng.choice([b"\n", b"\r\n"]).join(lines)
            if rng.random() < 0.2:
                body += b"\n"
        roll = rng.random()
        if roll < 0.25 and body:
            cut = rng.randrange(len(body) + 1)
            body = body[:cut] + rng.choice(_BREAKERS) + body[cut:]
        elif roll < 0.3:
            body = rng.choice(_BREAKERS)
        elif roll < 0.35 and body:
            body = body[: rng.randrange(len(body))]
        out.append((kind, body))
    return out


def _event_answer(event: Event, had_id: bool) -> list[Any]:
    """The event as JSON; a fresh id (the item had none) is checked and shown as None."""
    assert had_id or is_valid_event_id(event.event_id)
    return [
        event.event_id if had_id else None,
        event.measurement,
        event.time_ns,
        [[key, value] for key, value in event.tags.items()],
        [[key, value, type(value).__name__] for key, value in event.fields.items()],
    ]


def _had_id(item: Any) -> bool:
    return isinstance(item, dict) and item.get("event_id") is not None


def answer_item(item: Any, now_ns: int = NOW_NS) -> list[Any]:
    """``["event", ...]`` or ``["invalid", message, key]`` for one decoded item."""
    try:
        event = parse_item(
            item,
            identity=IDENTITY,
            measurement=MEASUREMENT,
            now_ns=now_ns,
            limits=LIMITS,
            tag_keys=TAG_KEYS,
        )
    except InvalidEvent as exc:
        return ["invalid", exc.message, exc.key]
    return ["event", *_event_answer(event, _had_id(item))]


class _Recorder:
    """Keeps what the ingestor writes, in order, duplicates included."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def write(self, events: Sequence[Event]) -> None:
        self.events.extend(events)


def answer_body(kind: str, body: bytes) -> list[Any]:
    """What ``POST /log/events`` answers ``body``: an error, or the accepted and rejected items."""
    try:
        decoded, pre_rejected = decode_batch(body, ndjson=kind == "ndjson")
    except StatsServiceError as exc:
        return ["error", type(exc).__name__, exc.message]
    if len(decoded) > MAX_BATCH_EVENTS:
        return ["too_many", len(decoded)]
    recorder = _Recorder()
    ingestor = Ingestor(
        cast(EventStore, recorder),
        measurement=MEASUREMENT,
        limits=LIMITS,
        tag_keys=TAG_KEYS,
        clock_ns=lambda: NOW_NS,
    )
    outcome = asyncio.run(ingestor.log_batch(decoded, IDENTITY, pre_rejected))
    refused = {index for index, _ in outcome.rejected}
    kept = [index for index in range(len(decoded)) if index not in refused]
    assert [event.event_id for event in recorder.events] == outcome.ids
    accepted = [
        _event_answer(event, _had_id(decoded[index]))
        for index, event in zip(kept, recorder.events, strict=True)
    ]
    return ["batch", accepted, [list(pair) for pair in outcome.rejected]]


def _record() -> None:
    answers = {
        "items": [answer_item(item) for item in items()],
        "bodies": [
            [kind, base64.b64encode(body).decode(), answer_body(kind, body)]
            for kind, body in bodies()
        ],
    }
    ANSWERS.parent.mkdir(exist_ok=True)
    text = json.dumps(answers, separators=(",", ":")) + "\n"
    ANSWERS.write_bytes(gzip.compress(text.encode(), mtime=0))


def recorded() -> dict[str, Any]:
    """The recorded answers: ``items`` (one per item) and ``bodies`` (kind, base64, answer)."""
    answers: dict[str, Any] = json.loads(gzip.decompress(ANSWERS.read_bytes()))
    return answers


if __name__ == "__main__":
    if sys.argv[1:] != ["record"]:
        sys.exit("usage: python -m tests.unit.service.events.batch_corpus record")
    _record()
