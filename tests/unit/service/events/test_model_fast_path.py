"""The fast path of ``parse_event`` and the ISO time cache give exactly what the full path gives."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stats_service.errors import InvalidEvent
from stats_service.events import fast
from stats_service.events import keys as key_rules
from stats_service.events import times as time_rules
from stats_service.events.model import Event, Limits, format_time, parse_event, parse_time

BOUNDED = settings(max_examples=300, deadline=None)
IDENTITY = "statsbob"
T = TypeVar("T")


def attempt(call: Callable[[], T]) -> T | tuple[str, str | None]:
    """The result of ``call``, or the message and key of the InvalidEvent it raised."""
    try:
        return call()
    except InvalidEvent as error:
        return (error.message, error.key)


def full_path(obj: Any, limits: Limits, tag_keys: frozenset[str]) -> Event | tuple[str, str | None]:
    """What ``parse_event`` answers with the fast path switched off."""
    original = fast.flat_event
    fast.flat_event = lambda *args: None
    try:
        return attempt(
            lambda: parse_event(
                obj,
                identity=IDENTITY,
                measurement="m",
                now_ns=7,
                limits=limits,
                tag_keys=tag_keys,
            )
        )
    finally:
        fast.flat_event = original


def either_path(
    obj: Any, limits: Limits, tag_keys: frozenset[str]
) -> Event | tuple[str, str | None]:
    return attempt(
        lambda: parse_event(
            obj, identity=IDENTITY, measurement="m", now_ns=7, limits=limits, tag_keys=tag_keys
        )
    )


# Mostly what the fast path takes, with every kind of thing it must leave alone.
ascii_texts = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=10)
odd_texts = st.sampled_from(["", "a\\", "x\ny", "caf\u00e9", "\ud800", "\x7f", "end\\\\"])
texts = st.one_of(ascii_texts, ascii_texts, odd_texts)
keys = st.one_of(
    st.sampled_from(["page", "n", "ratio", "env", "ok", "a_b", "host"]),
    st.sampled_from(["uid", "event", "time", "event_id", "tags", "identity", "measurement"]),
    st.sampled_from(["_x", "1a", "a-b", "", "k" * 129, "\u00e9t\u00e9"]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(),
    texts,
)
values = st.one_of(
    scalars,
    scalars,
    scalars,
    st.lists(scalars, max_size=2),
    st.dictionaries(st.sampled_from(["a", "b", "_c"]), scalars, max_size=2),
)
times = st.one_of(
    st.integers(min_value=0, max_value=2**63 - 2).map(format_time),
    st.sampled_from(["2024-02-30T00:00:00Z", "2024-01-02T03:04:05.5Z", "2024-01-02", "x"]),
    st.integers(min_value=-5, max_value=2**34),
)
limits = st.one_of(
    st.just(Limits()),
    st.builds(
        Limits,
        max_event_bytes=st.integers(min_value=0, max_value=200),
        max_string_bytes=st.integers(min_value=0, max_value=12),
        max_keys=st.integers(min_value=0, max_value=8),
    ),
)
payloads = st.fixed_dictionaries(
    {
        "event": st.one_of(st.sampled_from(["page.view", "e"]), texts, scalars),
        "uid": st.one_of(st.sampled_from(["user-1", ""]), texts, scalars),
        "event_id": st.one_of(st.just("entry_1"), st.sampled_from(["bad id", "", 5])),
    },
    optional={
        "time": times,
        "tags": st.one_of(st.dictionaries(keys, st.one_of(texts, scalars), max_size=3), scalars),
    },
).flatmap(lambda base: st.dictionaries(keys, values, max_size=5).map(lambda d: {**d, **base}))


@BOUNDED
@given(obj=payloads, lim=limits, tag_keys=st.frozensets(keys, max_size=2))
def test_fast_path_answers_exactly_what_the_full_path_answers(
    obj: dict[str, Any], lim: Limits, tag_keys: frozenset[str]
) -> None:
    expected = full_path(obj, lim, tag_keys)
    got = either_path(obj, lim, tag_keys)
    assert got == expected
    if isinstance(got, Event) and isinstance(expected, Event):
        # Same order too: the stored body and the line protocol follow it.
        assert list(got.tags) == list(expected.tags)
        assert list(got.fields) == list(expected.fields)


FLAT = {
    "event": "page.view",
    "uid": "user-1",
    "event_id": "entry_1",
    "time": "2025-11-22T21:40:00.000001000Z",
    "tags": {"env": "prod", "empty": ""},
    "page": "/docs",
    "n": 3,
    "ratio": 0.5,
    "ok": True,
    "gone": None,
}


@pytest.fixture
def flat_calls() -> Iterator[list[Event | None]]:
    """The answers of the fast path while the test runs."""
    calls: list[Event | None] = []
    original = fast.flat_event

    def spy(*args: Any) -> Event | None:
        result = original(*args)
        calls.append(result)
        return result

    fast.flat_event = spy  # type: ignore[assignment]
    try:
        yield calls
    finally:
        fast.flat_event = original


def test_a_flat_event_takes_the_fast_path(flat_calls: list[Event | None]) -> None:
    event = parse_event(FLAT, identity=IDENTITY, measurement="m", now_ns=0, limits=Limits())
    assert flat_calls == [event]
    assert event == Event(
        event_id="entry_1",
        measurement="m",
        time_ns=1_763_847_600_000_001_000,
        tags={"identity": IDENTITY, "event": "page.view", "env": "prod"},
        fields={"uid": "user-1", "page": "/docs", "n": 3, "ratio": 0.5, "ok": True},
    )


@pytest.mark.parametrize(
    "change",
    [
        {"nested": {"a": 1}},
        {"items": [1, 2]},
        {"text": "caf\u00e9"},
        {"_bad": 1},
        {"tags": {"host": "a\\"}},
        {"big": 2**63},
        {"uid": "x\ny"},
        {"time": "not a time"},
    ],
    ids=[
        "nested",
        "list",
        "non-ascii",
        "bad-key",
        "tag-backslash",
        "big-int",
        "uid-control",
        "time",
    ],
)
def test_anything_unusual_takes_the_full_path(
    change: dict[str, Any], flat_calls: list[Event | None]
) -> None:
    obj = {**FLAT, **change}
    full = full_path(obj, Limits(), frozenset())
    assert either_path(obj, Limits(), frozenset()) == full
    assert flat_calls == [None]


def test_data_key_in_tag_keys_becomes_a_tag(flat_calls: list[Event | None]) -> None:
    event = parse_event(
        FLAT,
        identity=IDENTITY,
        measurement="m",
        now_ns=0,
        limits=Limits(),
        tag_keys=frozenset({"page"}),
    )
    assert flat_calls == [event]
    assert event.tags["page"] == "/docs"
    assert "page" not in event.fields


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T03:04:05Z", 1_704_164_645_000_000_000),
        ("2024-01-02T03:04:05.1Z", 1_704_164_645_100_000_000),
        ("2024-01-02T03:04:05.123456789Z", 1_704_164_645_123_456_789),
        ("2024-01-02T03:04:05.123456789+01:00", 1_704_161_045_123_456_789),
    ],
    ids=["whole-second", "one-digit", "nanoseconds", "offset"],
)
def test_common_iso_times_are_parsed_exactly(text: str, expected: int) -> None:
    assert parse_time(text) == expected
    assert parse_time(text) == expected  # again, from the cache


@pytest.mark.parametrize(
    "text",
    ["2024-02-30T00:00:00Z", "2024-13-01T00:00:00.5Z", "2024-01-01T24:00:00Z"],
    ids=["day", "month", "hour"],
)
def test_invalid_common_times_are_refused_every_time(text: str) -> None:
    for _ in range(2):
        with pytest.raises(InvalidEvent, match="is not a valid time") as caught:
            parse_time(text)
        assert caught.value.key == "time"


def test_the_time_cache_is_bounded() -> None:
    for second in range(time_rules.UTC_SECONDS_MAX + 10):
        assert parse_time(format_time(second * 1_000_000_000)) == second * 1_000_000_000
    assert len(time_rules.utc_seconds) <= time_rules.UTC_SECONDS_MAX


def test_the_known_key_set_is_bounded() -> None:
    for number in range(key_rules.KNOWN_KEYS_MAX + 10):
        assert key_rules.known_key(f"k{number}")
    assert len(key_rules.known_keys) <= key_rules.KNOWN_KEYS_MAX
    assert not key_rules.known_key("time")
    assert not key_rules.known_key("_x")


def _size_of_flat_minimum() -> int:
    """The counted size of ``{"event": "e", "uid": "", "event_id": "entry_1", "k": "vv"}``."""
    return len("identity") + len(IDENTITY) + len("event") + 1 + len("uid") + len("k") + 2


EDGE = {"event": "e", "uid": "", "event_id": "entry_1", "k": "vv"}


@pytest.mark.parametrize(
    ("obj", "lim"),
    [
        (EDGE, Limits(max_event_bytes=_size_of_flat_minimum())),
        (EDGE, Limits(max_event_bytes=_size_of_flat_minimum() - 1)),
        (EDGE, Limits(max_keys=4)),
        (EDGE, Limits(max_keys=3)),
        (EDGE, Limits(max_string_bytes=2)),
        (EDGE, Limits(max_string_bytes=1)),
        ({**EDGE, "uid": "abc"}, Limits(max_string_bytes=2)),
        ({**EDGE, "event": "abc"}, Limits(max_string_bytes=2)),
        ({**EDGE, "tags": {"env": "abc"}}, Limits(max_string_bytes=2)),
        ({**EDGE, "tags": {"_bad": None}}, Limits()),
        ({**EDGE, "tags": {"time": None}}, Limits()),
        ({**EDGE, "_bad": None}, Limits()),
        ({**EDGE, "identity": None}, Limits()),
        ({**EDGE, "tags": {"k": "x"}}, Limits()),
        ({**EDGE, "tags": {"event": "x"}}, Limits()),
        ({**EDGE, "tags": {"uid": "x"}}, Limits()),
        ({**EDGE, "tags": {"env": ""}, "env": 1}, Limits()),
        ({**EDGE, "tags": {"env": 1}}, Limits()),
        ({**EDGE, "tags": ["env"]}, Limits()),
        ({**EDGE, "f": float("nan")}, Limits()),
        ({**EDGE, "f": -(2**63) - 1}, Limits()),
        ({**EDGE, "event": "x" * 257}, Limits()),
        ({**EDGE, "uid": "u" * 1025}, Limits()),
        ({**EDGE, "event": "a\\"}, Limits()),
    ],
    ids=[
        "size-at-limit",
        "size-over-limit",
        "keys-at-limit",
        "keys-over-limit",
        "string-at-limit",
        "string-over-limit",
        "uid-over-limit",
        "event-over-limit",
        "tag-over-limit",
        "null-tag-bad-key",
        "null-tag-reserved-key",
        "null-data-bad-key",
        "null-data-reserved-key",
        "tag-then-data-collision",
        "tag-event-collision",
        "tag-uid-collision",
        "empty-tag-then-data",
        "tag-not-text",
        "tags-not-object",
        "nan",
        "int-too-small",
        "event-too-long",
        "uid-too-long",
        "event-backslash",
    ],
)
def test_edges_answer_exactly_what_the_full_path_answers(obj: dict[str, Any], lim: Limits) -> None:
    assert either_path(obj, lim, frozenset()) == full_path(obj, lim, frozenset())


@pytest.mark.parametrize(
    ("obj", "tag_keys"),
    [
        ({**EDGE, "k": ""}, frozenset({"k"})),
        ({**EDGE, "k": "a\\"}, frozenset({"k"})),
        ({**EDGE, "k": "a\nb"}, frozenset({"k"})),
        ({**EDGE, "tags": {"k": "t"}}, frozenset({"k"})),
        ({**EDGE, "k": 5}, frozenset({"k"})),
    ],
    ids=["empty", "backslash", "control", "collision", "not-text"],
)
def test_tag_keys_edges_answer_exactly_what_the_full_path_answers(
    obj: dict[str, Any], tag_keys: frozenset[str]
) -> None:
    assert either_path(obj, Limits(), tag_keys) == full_path(obj, Limits(), tag_keys)


def test_the_known_event_names_are_bounded() -> None:
    for number in range(key_rules.KNOWN_KEYS_MAX + 10):
        name = f"page.view{number}"
        event = parse_event(
            {"event": name, "uid": "u"},
            identity=IDENTITY,
            measurement="m",
            now_ns=0,
            limits=Limits(),
        )
        assert event.tags["event"] == name
    assert len(fast._known_names) <= key_rules.KNOWN_KEYS_MAX


@pytest.mark.parametrize(
    "text",
    [
        "2025-11-22T10:20:30.123456789Z",
        "1969-12-31T23:59:59.999999999Z",
        "2262-04-11T23:47:16.854775807Z",
    ],
    ids=["ordinary", "before-1970", "past-2262"],
)
def test_cached_times_answer_as_the_pattern_does(text: str) -> None:
    first = attempt(lambda: parse_time(text))
    assert time_rules.cached_utc_ns(text) in {None, first}
    assert attempt(lambda: parse_time(text)) == first  # the second time, from the cache
