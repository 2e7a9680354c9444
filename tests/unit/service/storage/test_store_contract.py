"""One contract, every store: the memory and embedded stores must behave identically."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from stats_service.errors import InvalidEvent, ServiceUnavailable
from stats_service.events.model import Event, FieldValue
from stats_service.storage.base import EventPage, EventQuery, EventStore
from stats_service.storage.embedded import EmbeddedStore
from stats_service.storage.memory import MemoryStore

T = TypeVar("T")

T0 = 1_700_000_000_000_000_000
INJECTION = "x'; drop table events; --"


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), 30)

    return asyncio.run(bounded())


@asynccontextmanager
async def opened(store: EventStore) -> AsyncIterator[EventStore]:
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(params=["memory", "embedded"], ids=["memory", "embedded"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(kind: str, tmp_path: Path) -> Callable[[], EventStore]:
    """A factory of unopened stores of the parametrised kind (embedded: one file per test)."""

    def build() -> EventStore:
        if kind == "memory":
            return MemoryStore()
        return EmbeddedStore(tmp_path / "data" / "events.sqlite3")

    return build


async def all_pages(store: EventStore, query: EventQuery) -> list[EventPage]:
    pages = [await store.query(query)]
    while pages[-1].next_after is not None:
        next_query = EventQuery(
            since_ns=query.since_ns,
            until_ns=query.until_ns,
            limit=query.limit,
            event=query.event,
            uid=query.uid,
            measurement=query.measurement,
            after=pages[-1].next_after,
        )
        pages.append(await store.query(next_query))
        assert len(pages) < 10_000, "pagination does not end"
    return pages


def ids(events: list[Event]) -> list[str]:
    return [event.event_id for event in events]


# -- write and get ----------------------------------------------------------------

FIELD_VALUES: list[tuple[str, FieldValue]] = [
    ("str", "hello"),
    ("empty-str", ""),
    ("unicode-str", "naïve ☃ 𝄞"),
    ("int", 42),
    ("zero", 0),
    ("negative-int", -7),
    ("large-int", 2**62 + 1),
    ("float", 0.1),
    ("integral-float", 1.0),
    ("negative-float", -2.5e-300),
    ("true", True),
    ("false", False),
    ("numeric-str", "1"),
]


@pytest.mark.parametrize(("name", "value"), FIELD_VALUES, ids=[name for name, _ in FIELD_VALUES])
def test_field_values_round_trip_with_their_type(make_store, make_event, name, value):
    event = make_event("rt-1", fields={name: value}, tags={"team": "blue"})

    async def scenario() -> Event | None:
        async with opened(make_store()) as store:
            await store.write([event])
            return await store.get("rt-1")

    stored = run(scenario)
    assert stored == event
    assert type(stored.fields[name]) is type(value)


def test_an_event_with_every_type_round_trips(make_store, make_event):
    fields: dict[str, FieldValue] = dict(FIELD_VALUES)
    event = make_event("all-types", fields=fields, tags={"identity": "svc", "env": "prod"})

    async def scenario() -> Event | None:
        async with opened(make_store()) as store:
            await store.write([event])
            return await store.get("all-types")

    stored = run(scenario)
    assert stored == event
    assert {k: type(v) for k, v in stored.fields.items()} == {
        k: type(v) for k, v in event.fields.items()
    }


def test_a_point_without_event_or_uid_round_trips(make_store, make_event):
    point = make_event("p-1", event=None, uid=None, measurement="cpu", fields={"load": 0.5})

    async def scenario() -> Event | None:
        async with opened(make_store()) as store:
            await store.write([point])
            return await store.get("p-1")

    assert run(scenario) == point


def test_get_of_an_unknown_id_is_none(make_store, make_event):
    async def scenario() -> Event | None:
        async with opened(make_store()) as store:
            await store.write([make_event("known")])
            return await store.get("unknown")

    assert run(scenario) is None


def test_writing_nothing_is_a_no_op(make_store):
    async def scenario() -> EventPage:
        async with opened(make_store()) as store:
            await store.write([])
            return await store.query(EventQuery(since_ns=0, until_ns=2**62, limit=10))

    assert run(scenario).events == []


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "minus-inf"]
)
def test_a_non_finite_field_refuses_the_whole_write(make_store, make_event, value):
    batch = [make_event("fine"), make_event("broken", fields={"ratio": value})]

    async def scenario() -> tuple[Event | None, Event | None]:
        async with opened(make_store()) as store:
            with pytest.raises(InvalidEvent) as caught:
                await store.write(batch)
            assert caught.value.key == "ratio"
            return await store.get("fine"), await store.get("broken")

    assert run(scenario) == (None, None)


def test_a_string_saying_null_is_just_a_string(make_store, make_event):
    event = make_event("n", fields={"note": "null", "other": ":null}"}, tags={"t": "null"})

    async def scenario() -> Event | None:
        async with opened(make_store()) as store:
            await store.write([event])
            return await store.get("n")

    assert run(scenario) == event


def test_a_stored_id_is_not_overwritten(make_store, make_event):
    first = make_event("dup", fields={"version": 1})
    retry = make_event("dup", time_ns=T0 + 5, fields={"version": 2}, event="other")

    async def scenario() -> tuple[Event | None, EventPage]:
        async with opened(make_store()) as store:
            await store.write([first])
            await store.write([retry])
            page = await store.query(EventQuery(since_ns=0, until_ns=2**62, limit=10))
            return await store.get("dup"), page

    stored, page = run(scenario)
    assert stored == first
    assert page.events == [first]


def test_within_one_write_the_first_duplicate_wins(make_store, make_event):
    batch = [
        make_event("a", fields={"n": 1}),
        make_event("b"),
        make_event("a", fields={"n": 2}),
    ]

    async def scenario() -> tuple[Event | None, EventPage]:
        async with opened(make_store()) as store:
            await store.write(batch)
            page = await store.query(EventQuery(since_ns=0, until_ns=2**62, limit=10))
            return await store.get("a"), page

    stored, page = run(scenario)
    assert stored == batch[0]
    assert ids(page.events) == ["a", "b"]


def test_the_store_keeps_its_own_copy(make_store, make_event):
    event = make_event("mine", fields={"n": 1})
    original = make_event("mine", fields={"n": 1})

    async def scenario() -> Event | None:
        async with opened(make_store()) as store:
            await store.write([event])
            event.fields["n"] = 999  # the caller reuses its dict
            fetched = await store.get("mine")
            assert fetched is not None
            fetched.tags["event"] = "changed"  # and mutates what it got back
            return await store.get("mine")

    assert run(scenario) == original


def test_data_survives_close_and_open_of_the_same_store(make_store, make_event):
    event = make_event("kept")

    async def scenario() -> Event | None:
        store = make_store()
        async with opened(store):
            await store.write([event])
        async with opened(store):
            return await store.get("kept")

    assert run(scenario) == event


# -- queries -------------------------------------------------------------------------


def test_the_window_is_half_open(make_store, make_event):
    since, until = T0, T0 + 1_000
    events = [
        make_event("before", time_ns=since - 1),
        make_event("at-since", time_ns=since),
        make_event("inside", time_ns=since + 500),
        make_event("last-inside", time_ns=until - 1),
        make_event("at-until", time_ns=until),
    ]

    async def scenario() -> EventPage:
        async with opened(make_store()) as store:
            await store.write(events)
            return await store.query(EventQuery(since_ns=since, until_ns=until, limit=100))

    page = run(scenario)
    assert ids(page.events) == ["at-since", "inside", "last-inside"]
    assert page.next_after is None


@pytest.mark.parametrize(
    ("since", "until"),
    [(T0, T0), (T0 + 10, T0)],
    ids=["empty-window", "reversed-window"],
)
def test_an_empty_window_finds_nothing(make_store, make_event, since, until):
    async def scenario() -> EventPage:
        async with opened(make_store()) as store:
            await store.write([make_event("x", time_ns=T0)])
            return await store.query(EventQuery(since_ns=since, until_ns=until, limit=10))

    page = run(scenario)
    assert page.events == []
    assert page.next_after is None


def test_results_are_ordered_by_time_then_id(make_store, make_event):
    events = [
        make_event("c", time_ns=T0 + 2),
        make_event("b", time_ns=T0 + 1),
        make_event("z", time_ns=T0),
        make_event("a", time_ns=T0 + 1),
        make_event("A", time_ns=T0 + 1),
    ]

    async def scenario() -> EventPage:
        async with opened(make_store()) as store:
            await store.write(events)
            return await store.query(EventQuery(since_ns=T0, until_ns=T0 + 10, limit=10))

    assert ids(run(scenario).events) == ["z", "A", "a", "b", "c"]


FILTER_EVENTS = [
    # (event_id, measurement, event tag, uid field)
    ("e1", "analytics", "signup", "u1"),
    ("e2", "analytics", "login", "u1"),
    ("e3", "analytics", "signup", "u2"),
    ("e4", "other", "signup", "u1"),
    ("e5", "cpu", None, None),
    ("e6", "analytics", "signup", 7),  # a non-string uid cannot be filtered on
]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["e1", "e2", "e3", "e4", "e5", "e6"]),
        ({"event": "signup"}, ["e1", "e3", "e4", "e6"]),
        ({"uid": "u1"}, ["e1", "e2", "e4"]),
        ({"measurement": "cpu"}, ["e5"]),
        ({"event": "signup", "uid": "u1"}, ["e1", "e4"]),
        ({"event": "signup", "uid": "u1", "measurement": "analytics"}, ["e1"]),
        ({"uid": "7"}, []),
        ({"event": "nope"}, []),
        ({"event": ""}, []),
    ],
    ids=[
        "none",
        "event",
        "uid",
        "measurement",
        "event-and-uid",
        "all-three",
        "int-uid-is-not-indexed",
        "unknown-event",
        "empty-event",
    ],
)
def test_filters_match_exactly(make_store, make_event, filters, expected):
    events = [
        make_event(event_id, time_ns=T0 + i, measurement=measurement, event=tag, uid=uid)
        for i, (event_id, measurement, tag, uid) in enumerate(FILTER_EVENTS)
    ]

    async def scenario() -> EventPage:
        async with opened(make_store()) as store:
            await store.write(events)
            return await store.query(
                EventQuery(since_ns=T0, until_ns=T0 + 100, limit=100, **filters)
            )

    assert ids(run(scenario).events) == expected


def test_pagination_over_equal_timestamps_yields_each_event_once(make_store, make_event):
    names = [f"id-{i:04d}" for i in range(250)]
    shuffled = random.Random(7).sample(names, len(names))
    events = [make_event(name, time_ns=T0) for name in shuffled]

    async def scenario() -> list[EventPage]:
        async with opened(make_store()) as store:
            for start in range(0, len(events), 50):
                await store.write(events[start : start + 50])
            return await all_pages(store, EventQuery(since_ns=T0, until_ns=T0 + 1, limit=40))

    pages = run(scenario)
    assert [len(page.events) for page in pages] == [40] * 6 + [10]
    seen = [event_id for page in pages for event_id in ids(page.events)]
    assert seen == sorted(names)
    for page in pages[:-1]:
        assert page.next_after == (T0, page.events[-1].event_id)
    assert pages[-1].next_after is None


def test_a_page_that_ends_exactly_at_the_last_event_has_no_next(make_store, make_event):
    events = [make_event(f"e{i}", time_ns=T0 + i) for i in range(5)]

    async def scenario() -> EventPage:
        async with opened(make_store()) as store:
            await store.write(events)
            return await store.query(EventQuery(since_ns=T0, until_ns=T0 + 10, limit=5))

    page = run(scenario)
    assert ids(page.events) == ["e0", "e1", "e2", "e3", "e4"]
    assert page.next_after is None


def test_after_is_exclusive_and_ordered_by_time_then_id(make_store, make_event):
    events = [
        make_event("a", time_ns=T0),
        make_event("b", time_ns=T0),
        make_event("a2", time_ns=T0 + 1),
        make_event("0", time_ns=T0 + 1),
    ]

    async def scenario() -> EventPage:
        async with opened(make_store()) as store:
            await store.write(events)
            return await store.query(
                EventQuery(since_ns=T0, until_ns=T0 + 10, limit=10, after=(T0, "b"))
            )

    assert ids(run(scenario).events) == ["0", "a2"]


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ((T0 - 100, "zzz"), ["a", "b", "c"]),
        ((T0, ""), ["a", "b", "c"]),
        ((T0, "a"), ["b", "c"]),
        ((T0 + 1, "c"), []),
        ((T0 + 50, "a"), []),
    ],
    ids=["before-window", "window-start", "inside", "at-last", "after-window"],
)
def test_after_anywhere_relative_to_the_window(make_store, make_event, after, expected):
    events = [
        make_event("a", time_ns=T0),
        make_event("b", time_ns=T0),
        make_event("c", time_ns=T0 + 1),
        make_event("late", time_ns=T0 + 10),
    ]

    async def scenario() -> EventPage:
        async with opened(make_store()) as store:
            await store.write(events)
            return await store.query(
                EventQuery(since_ns=T0, until_ns=T0 + 10, limit=10, after=after)
            )

    assert ids(run(scenario).events) == expected


@pytest.mark.parametrize("limit", [0, -1], ids=["zero", "negative"])
def test_a_limit_below_one_is_refused(make_store, limit):
    async def scenario() -> None:
        async with opened(make_store()) as store:
            with pytest.raises(ValueError, match="limit"):
                await store.query(EventQuery(since_ns=0, until_ns=1, limit=limit))

    run(scenario)


def test_queries_agree_with_a_reference_filter(make_store, make_event):
    """Random events and paged queries against a brute-force reference."""
    rng = random.Random(20240601)
    events = [
        make_event(
            f"{rng.choice('abc')}{i:03d}",
            time_ns=T0 + rng.randrange(20),
            measurement=rng.choice(["analytics", "cpu"]),
            event=rng.choice(["signup", "login", None]),
            uid=rng.choice(["u1", "u2", None, 3]),
        )
        for i in range(300)
    ]
    queries = []
    for _ in range(40):
        since = T0 + rng.randrange(-2, 20)
        queries.append(
            EventQuery(
                since_ns=since,
                until_ns=since + rng.randrange(0, 25),
                limit=rng.choice([1, 3, 17, 1000]),
                event=rng.choice([None, "signup", "login"]),
                uid=rng.choice([None, "u1", "u2"]),
                measurement=rng.choice([None, "analytics", "cpu"]),
            )
        )

    def reference(query: EventQuery) -> list[str]:
        hits = [
            e
            for e in events
            if query.since_ns <= e.time_ns < query.until_ns
            and (query.event is None or e.tags.get("event") == query.event)
            and (query.uid is None or e.fields.get("uid") == query.uid)
            and (query.measurement is None or e.measurement == query.measurement)
        ]
        return [e.event_id for e in sorted(hits, key=lambda e: (e.time_ns, e.event_id))]

    async def scenario() -> list[list[str]]:
        async with opened(make_store()) as store:
            await store.write(events)
            results = []
            for query in queries:
                pages = await all_pages(store, query)
                assert all(len(page.events) <= query.limit for page in pages)
                results.append([i for page in pages for i in ids(page.events)])
            return results

    assert run(scenario) == [reference(query) for query in queries]


# -- hostile input -----------------------------------------------------------------


@pytest.mark.parametrize(
    "hostile",
    [INJECTION, "' OR '1'='1", "%", "_", "\\", '"; DELETE FROM events; --'],
    ids=["drop-table", "or-true", "percent", "underscore", "backslash", "double-quote"],
)
def test_hostile_strings_are_only_ever_values(make_store, make_event, hostile):
    events = [make_event(f"e{i}", time_ns=T0 + i) for i in range(3)]

    async def scenario() -> None:
        async with opened(make_store()) as store:
            await store.write(events)
            assert await store.get(hostile) is None
            for filters in ({"event": hostile}, {"uid": hostile}, {"measurement": hostile}):
                page = await store.query(
                    EventQuery(since_ns=T0, until_ns=T0 + 10, limit=10, **filters)
                )
                assert page.events == []
            page = await store.query(
                EventQuery(since_ns=T0, until_ns=T0 + 10, limit=10, after=(T0, hostile))
            )
            assert ids(page.events) == [
                e.event_id for e in events if (e.time_ns, e.event_id) > (T0, hostile)
            ]
            # Stored as data, a hostile id comes back verbatim.
            tricky = make_event(hostile, time_ns=T0 + 5, event=hostile, uid=hostile)
            await store.write([tricky])
            assert await store.get(hostile) == tricky
            page = await store.query(
                EventQuery(since_ns=T0, until_ns=T0 + 10, limit=10, event=hostile, uid=hostile)
            )
            assert page.events == [tricky]
            everything = await store.query(EventQuery(since_ns=T0, until_ns=T0 + 10, limit=10))
            assert ids(everything.events) == ["e0", "e1", "e2", hostile]

    run(scenario)


# -- health and lifecycle -------------------------------------------------------------


def test_health_reports_the_backend_and_whether_it_is_open(make_store, kind):
    async def scenario() -> None:
        store = make_store()
        before = await store.health()
        assert (before.backend, before.ok) == (kind, False)
        async with opened(store):
            health = await store.health()
            assert (health.backend, health.ok) == (kind, True)
        after = await store.health()
        assert (after.backend, after.ok) == (kind, False)

    run(scenario)


def test_a_closed_store_refuses_work(make_store, make_event):
    async def scenario() -> None:
        store = make_store()
        async with opened(store):
            await store.write([make_event("x")])
        with pytest.raises(ServiceUnavailable):
            await store.write([make_event("y")])
        with pytest.raises(ServiceUnavailable):
            await store.get("x")
        with pytest.raises(ServiceUnavailable):
            await store.query(EventQuery(since_ns=0, until_ns=2**62, limit=1))

    run(scenario)
