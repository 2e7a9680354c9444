"""Dead letters in Kafka mode: the last record of a key decides, a replay tombstones."""

from __future__ import annotations

import asyncio

from stats_service.delivery.kafka.codec import encode_event
from stats_service.delivery.kafka.replay import DeadLetters, MemoryDeadLetterTopic, pending
from stats_service.events.model import Event

T0 = 1_763_850_000_000_000_000


def _letter(topic: MemoryDeadLetterTopic, event_id: str, *, at: int, reason: str = "bad") -> bytes:
    key, value = encode_event(Event(event_id, "m", T0, {}, {"n": "text"}))
    topic.dead_letter(key, value, reason=reason, status="400", dead_lettered_ns=str(at))
    return value


def test_a_tombstone_hides_the_letters_before_it_not_a_later_one() -> None:
    topic = MemoryDeadLetterTopic()
    _letter(topic, "a", at=1)
    _letter(topic, "b", at=2)
    asyncio.run(topic.tombstone([b"a"], now_ns=3))
    assert [r.key for r in pending(topic.records)] == [b"b"]
    _letter(topic, "a", at=4, reason="refused again")  # refused again after its replay
    assert [r.key for r in pending(topic.records)] == [b"b", b"a"]


def test_listing_reads_reason_status_and_time_oldest_first() -> None:
    topic = MemoryDeadLetterTopic()
    _letter(topic, "late", at=20, reason="field type conflict")
    _letter(topic, "early", at=10)
    topic.dead_letter(b"junk", b"not json", reason="not an event message", dead_lettered_ns="5")

    letters = asyncio.run(DeadLetters(topic).list())
    assert [(d.event.event_id, d.reason, d.status, d.dead_lettered_ns) for d in letters] == [
        ("early", "bad", 400, 10),
        ("late", "field type conflict", 400, 20),
    ]
    assert letters[0].event.fields == {"n": "text"}
    assert [d.event.event_id for d in asyncio.run(DeadLetters(topic).list(limit=1))] == ["early"]


def test_replay_produces_the_same_message_once_and_a_second_replay_finds_nothing() -> None:
    topic = MemoryDeadLetterTopic()
    value_a = _letter(topic, "a", at=1)
    value_b = _letter(topic, "b", at=2)
    topic.dead_letter(b"junk", b"not json", dead_lettered_ns="3")
    letters = DeadLetters(topic, clock_ns=lambda: 99)

    async def scenario() -> tuple[int, int, int, int]:
        chosen = await letters.replay(["b", "unknown"])
        again = await letters.replay(["b"])
        rest = await letters.replay()
        last = await letters.replay()
        return chosen, again, rest, last

    assert asyncio.run(scenario()) == (1, 0, 1, 0)
    assert topic.events == [(b"b", value_b), (b"a", value_a)]  # never the junk message
    tombstones = [r for r in topic.records if r.value is None]
    assert [(r.key, r.headers) for r in tombstones] == [
        (b"b", {"replayed_ns": "99"}),
        (b"a", {"replayed_ns": "99"}),
    ]
    assert asyncio.run(letters.list()) == []
