"""InfluxDBStore against a real influxd (1.x), plus its error mapping over a fake transport.

The real-server tests each use their own database. Behaviour of InfluxDB 1.6
that the forwarder relies on is pinned here: a batch with a field type
conflict is written except for the conflicting points, and the answer is 400
``partial write: field type conflict: ... dropped=N``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import parse_qs

import httpx
import pytest
from influx_fixtures import require_influxd
from influxd import InfluxDServer

from stats_service.errors import InvalidEvent, ServiceUnavailable
from stats_service.events.model import Event, FieldValue
from stats_service.storage.base import EventPage, EventQuery
from stats_service.storage.influx.config import InfluxDBConfig
from stats_service.storage.influx.errors import (
    InfluxQueryFailed,
    InfluxUnavailable,
    InfluxWriteRejected,
)
from stats_service.storage.influx.lineprotocol import encode_events
from stats_service.storage.influx.v1 import InfluxDBStore

T = TypeVar("T")
T0 = 1_763_850_000_000_000_000
END = T0 + 10**12


def real_influxd(test: Callable[..., None]) -> Callable[..., None]:
    """Mark a test that drives the session's real influxd."""
    return pytest.mark.integration(pytest.mark.influxdb(test))


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), 60)

    return asyncio.run(bounded())


def event(
    event_id: str,
    *,
    time_ns: int = T0,
    measurement: str = "analytics",
    tags: dict[str, str] | None = None,
    fields: dict[str, FieldValue] | None = None,
) -> Event:
    return Event(
        event_id=event_id,
        measurement=measurement,
        time_ns=time_ns,
        tags={"event": "signup"} if tags is None else tags,
        fields={"uid": "user-1"} if fields is None else fields,
    )


def influxql(url: str, statement: str, database: str = "") -> dict:
    response = httpx.post(
        f"{url}/query", data={"q": statement, "db": database, "epoch": "ns"}, timeout=10
    )
    response.raise_for_status()
    return response.json()


def databases(url: str) -> set[str]:
    series = influxql(url, "SHOW DATABASES")["results"][0].get("series") or [{}]
    return {row[0] for row in series[0].get("values") or []}


async def all_events(store: InfluxDBStore, query: EventQuery) -> list[Event]:
    found: list[Event] = []
    page = await store.query(query)
    found += page.events
    while page.next_after is not None:
        page = await store.query(
            EventQuery(
                since_ns=query.since_ns,
                until_ns=query.until_ns,
                limit=query.limit,
                event=query.event,
                uid=query.uid,
                measurement=query.measurement,
                after=page.next_after,
            )
        )
        found += page.events
        assert len(found) < 100_000, "pagination does not end"
    return found


@pytest.fixture
def config(influxd: InfluxDServer, influx_database: str) -> InfluxDBConfig:
    return InfluxDBConfig(url=influxd.url, database=influx_database)


# -- round trips ---------------------------------------------------------------------

STRINGS = {
    "plain": "hello",
    "empty": "",
    "newline": "line one\nline two",
    "crlf": "windows\r\nline",
    "only_newline": "\n",
    "comment_after_newline": "x\n# not a comment\nm f=1i 1",
    "tab_and_nul": "a\tb\x00c\x7f",
    "quotes": 'say "hi"',
    "backslashes": "C:\\dir\\file \\n \\\\",
    "trailing_backslash": "ends with \\",
    "unicode": "naïve ☃ 𝄞 😀 \u2028",
    "separators": "a,b=c d",
    "json_text": '[1,"two",{"three":3}]',
}
NUMBERS: dict[str, FieldValue] = {
    "int": 42,
    "zero": 0,
    "negative_int": -7,
    "int64_max": 2**63 - 1,
    "int64_min": -(2**63),
    "float": 0.1,
    "whole_float": 1.0,
    "negative_whole_float": -3.0,
    "big_float": 1e20,
    "tiny_float": -2.5e-300,
    "true": True,
    "false": False,
    "numeric_str": "1",
}


@real_influxd
def test_every_type_round_trips_exactly_through_get_and_query(config):
    fields: dict[str, FieldValue] = {"uid": "user-1", **STRINGS, **NUMBERS}
    stored = [
        event(
            "all-types",
            tags={"event": "signup", "identity": "svc", "env": "prod west", "path": "a,b=c\\d"},
            fields=fields,
        ),
        event("second", time_ns=T0 + 1, tags={"event": "login"}, fields={"uid": "u2", "n": 1.0}),
    ]

    async def scenario() -> tuple[Event | None, Event | None, EventPage]:
        async with InfluxDBStore(config) as store:
            await store.write(stored)
            page = await store.query(EventQuery(since_ns=T0, until_ns=END, limit=10))
            return await store.get("all-types"), await store.get("second"), page

    first, second, page = run(scenario)
    assert first == stored[0]
    assert second == stored[1]
    assert page.events == stored
    assert page.next_after is None
    for name, value in fields.items():
        assert type(first.fields[name]) is type(value), name
    assert type(second.fields["n"]) is float


@real_influxd
@pytest.mark.parametrize(("name", "text"), list(STRINGS.items()), ids=list(STRINGS))
def test_each_string_round_trips_alone(config, name, text):
    stored = event(f"s-{name}", fields={"uid": "u", "text": text})

    async def scenario() -> Event | None:
        async with InfluxDBStore(config) as store:
            await store.write([stored])
            return await store.get(f"s-{name}")

    assert run(scenario) == stored


@real_influxd
def test_count_counts_points_of_the_measurement(config):
    async def scenario() -> tuple[int, int]:
        async with InfluxDBStore(config) as store:
            before = await store.count()
            await store.write([event(f"c{i}", time_ns=T0 + i) for i in range(5)])
            await store.write([event("other", measurement="cpu", fields={"load": 0.5})])
            return before, await store.count()

    assert run(scenario) == (0, 5)


@real_influxd
def test_rewriting_the_same_event_is_idempotent(config):
    same = event("again", fields={"uid": "u", "n": 1})

    async def scenario() -> tuple[int, Event | None]:
        async with InfluxDBStore(config) as store:
            await store.write([same])
            await store.write([same, same])
            return await store.count(), await store.get("again")

    assert run(scenario) == (1, same)


@real_influxd
def test_get_of_an_unknown_id_is_none_even_without_a_database(influxd, influx_database):
    async def scenario() -> Event | None:
        async with InfluxDBStore(InfluxDBConfig(url=influxd.url, database=influx_database)):
            pass
        # A second store on a database nobody created.
        async with InfluxDBStore(
            InfluxDBConfig(url=influxd.url, database=influx_database + "_x")
        ) as other:
            influxql(influxd.url, f'DROP DATABASE "{influx_database}_x"')
            return await other.get("nothing")

    assert run(scenario) is None


@real_influxd
def test_open_creates_the_database(influxd, influx_database):
    assert influx_database not in databases(influxd.url)

    async def scenario() -> None:
        async with InfluxDBStore(InfluxDBConfig(url=influxd.url, database=influx_database)):
            pass

    run(scenario)
    assert influx_database in databases(influxd.url)


@real_influxd
def test_a_database_dropped_after_open_is_created_again_on_write(config, influxd):
    async def scenario() -> Event | None:
        async with InfluxDBStore(config) as store:
            influxql(influxd.url, f'DROP DATABASE "{config.database}"')
            await store.write([event("back")])
            return await store.get("back")

    assert run(scenario) == event("back")


@real_influxd
def test_retention_policy_is_used_for_writes_and_reads(influxd, influx_database):
    config = InfluxDBConfig(
        url=influxd.url, database=influx_database, retention_policy="short term"
    )

    async def scenario() -> tuple[Event | None, list[Event]]:
        async with InfluxDBStore(config) as store:
            influxql(
                influxd.url,
                f'CREATE RETENTION POLICY "short term" ON "{influx_database}"'
                " DURATION 1000w REPLICATION 1",
            )
            await store.write([event("rp", fields={"uid": "u", "x": 1.0})])
            page = await store.query(EventQuery(since_ns=T0, until_ns=END, limit=5))
            return await store.get("rp"), page.events

    got, listed = run(scenario)
    assert got == event("rp", fields={"uid": "u", "x": 1.0})
    assert listed == [got]
    default_rp = influxql(influxd.url, 'SELECT count(*) FROM "analytics"', influx_database)
    assert "series" not in default_rp["results"][0]


# -- queries ---------------------------------------------------------------------------


@real_influxd
def test_pages_follow_time_then_id_across_series_with_equal_timestamps(config):
    # InfluxDB keeps one point per series and timestamp, so equal times come from
    # distinct series (tags) here: the keyset must still order them by id.
    stored = [
        event(
            f"id-{i:03d}",
            time_ns=T0 + (i % 7),
            tags={"event": "signup" if i % 2 else "login", "shard": str(i % 13)},
            fields={"uid": f"u{i % 3}", "n": i},
        )
        for i in range(91)
    ]
    expected = sorted(stored, key=lambda e: (e.time_ns, e.event_id))

    async def scenario() -> list[list[Event]]:
        async with InfluxDBStore(config) as store:
            await store.write(stored[::-1])
            return [
                await all_events(store, EventQuery(since_ns=T0, until_ns=END, limit=limit))
                for limit in (1, 4, 13, 100)
            ]

    for result in run(scenario):
        assert result == expected


@real_influxd
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"event": "login"},
        {"uid": "u1"},
        {"event": "signup", "uid": "u2"},
        {"measurement": "cpu"},
        {"measurement": "analytics", "event": "login"},
        {"event": ""},
        {"event": "nope"},
        {"measurement": "nope"},
    ],
    ids=[
        "none",
        "event",
        "uid",
        "event-and-uid",
        "measurement",
        "measurement-and-event",
        "empty-event",
        "unknown-event",
        "unknown-measurement",
    ],
)
def test_filters_and_windows_match_a_reference(config, filters):
    stored = [
        event(
            f"f{i:02d}",
            time_ns=T0 + i // 3,
            measurement="cpu" if i % 5 == 0 else "analytics",
            tags={"event": "login" if i % 3 == 0 else "signup", "k": str(i % 4)},
            fields={"uid": f"u{i % 4}"},
        )
        for i in range(40)
    ]
    windows = [(T0, END), (T0 + 2, T0 + 7), (T0 + 13, T0 + 14), (T0 - 5, T0)]

    async def scenario() -> list[list[Event]]:
        async with InfluxDBStore(config) as store:
            await store.write(stored)
            return [
                await all_events(store, EventQuery(since_ns=s, until_ns=u, limit=3, **filters))
                for s, u in windows
            ]

    results = run(scenario)
    for (since, until), result in zip(windows, results, strict=True):
        reference = [
            e
            for e in stored
            if since <= e.time_ns < until
            and filters.get("event", e.tags["event"]) == e.tags["event"]
            and filters.get("uid", e.fields["uid"]) == e.fields["uid"]
            and filters.get("measurement", e.measurement) == e.measurement
        ]
        assert result == sorted(reference, key=lambda e: (e.time_ns, e.event_id))


@real_influxd
def test_after_is_exclusive(config):
    stored = [
        event("a", time_ns=T0, tags={"event": "x"}),
        event("b", time_ns=T0, tags={"event": "y"}),
        event("c", time_ns=T0 + 1, tags={"event": "x"}),
    ]

    async def scenario() -> list[list[str]]:
        async with InfluxDBStore(config) as store:
            await store.write(stored)
            out = []
            for after in [(T0, "a"), (T0, "b"), (T0 - 9, "zzz"), (T0 + 1, "c")]:
                page = await store.query(
                    EventQuery(since_ns=T0, until_ns=END, limit=10, after=after)
                )
                out.append([e.event_id for e in page.events])
            return out

    assert run(scenario) == [["b", "c"], ["c"], ["a", "b", "c"], []]


@real_influxd
def test_a_limit_below_one_is_refused(config):
    async def scenario() -> None:
        async with InfluxDBStore(config) as store:
            with pytest.raises(ValueError, match="limit"):
                await store.query(EventQuery(since_ns=0, until_ns=1, limit=0))

    run(scenario)


# -- rejected points ---------------------------------------------------------------------


@real_influxd
def test_a_type_conflict_drops_only_the_conflicting_points(config, influxd):
    async def scenario() -> tuple[InfluxWriteRejected, list[Event], int]:
        async with InfluxDBStore(config) as store:
            await store.write([event("seed", fields={"uid": "u", "x": 1.5})])
            batch = [
                event("ok-1", time_ns=T0 + 1, fields={"uid": "u", "x": 2.5}),
                event("int-x", time_ns=T0 + 2, fields={"uid": "u", "x": 3}),
                event("ok-2", time_ns=T0 + 3, fields={"uid": "u", "y": 1}),
                event("str-x", time_ns=T0 + 4, fields={"uid": "u", "x": "three", "z": True}),
                event("ok-3", time_ns=T0 + 5, fields={"uid": "u", "x": 4.0}),
            ]
            with pytest.raises(InfluxWriteRejected) as caught:
                await store.write(batch)
            page = await store.query(EventQuery(since_ns=T0, until_ns=END, limit=10))
            return caught.value, page.events, await store.count()

    rejected, events, count = run(scenario)
    assert rejected.influx_status == 400
    assert rejected.reason.startswith("partial write: field type conflict:")
    assert 'input field "x" on measurement "analytics"' in rejected.reason
    assert rejected.dropped == 2
    assert rejected.rejected_event_ids == frozenset({"int-x", "str-x"})
    assert [e.event_id for e in events] == ["seed", "ok-1", "ok-2", "ok-3"]
    assert count == 4


@real_influxd
def test_within_a_new_batch_the_first_type_of_a_field_wins(config):
    async def scenario() -> tuple[InfluxWriteRejected, list[str]]:
        async with InfluxDBStore(config) as store:
            with pytest.raises(InfluxWriteRejected) as caught:
                await store.write(
                    [
                        event("int-first", fields={"uid": "u", "v": 1}),
                        event("float-later", time_ns=T0 + 1, fields={"uid": "u", "v": 1.5}),
                        event("int-again", time_ns=T0 + 2, fields={"uid": "u", "v": 3}),
                    ]
                )
            page = await store.query(EventQuery(since_ns=T0, until_ns=END, limit=10))
            return caught.value, [e.event_id for e in page.events]

    rejected, stored = run(scenario)
    assert rejected.dropped == 1
    assert rejected.rejected_event_ids == frozenset({"float-later"})
    assert stored == ["int-first", "int-again"]


@real_influxd
def test_an_unwritable_event_refuses_the_whole_write_naming_it(config):
    async def scenario() -> tuple[InvalidEvent, list[str]]:
        async with InfluxDBStore(config) as store:
            with pytest.raises(InvalidEvent) as caught:
                await store.write(
                    [
                        event("good", fields={"uid": "u"}),
                        event("bad", time_ns=T0 + 1, tags={"event": "ends with \\"}),
                    ]
                )
            page = await store.query(EventQuery(since_ns=T0, until_ns=END, limit=10))
            return caught.value, [e.event_id for e in page.events]

    invalid, stored = run(scenario)
    assert invalid.key == "ends with \\"
    assert "'bad'" in invalid.message
    assert "backslash" in invalid.message
    assert stored == []


@real_influxd
def test_unparsable_lines_are_named_and_not_counted_as_dropped(influxd, influx_database):
    # Lines we never produce ourselves, sent raw, pin what 1.6 answers.
    influxql(influxd.url, f'CREATE DATABASE "{influx_database}"')
    good = encode_events([event("g1"), event("g2", time_ns=T0 + 1)]).decode().split("\n")
    body = "\n".join([good[0], 'analytics x=,event_id="b" 5', good[1]])
    response = httpx.post(
        f"{influxd.url}/write",
        params={"db": influx_database, "precision": "ns"},
        content=body.encode(),
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("partial write: unable to parse 'analytics x=,event_id=\"b\" 5'")
    assert error.endswith("dropped=0")
    count = influxql(influxd.url, 'SELECT count("event_id") FROM "analytics"', influx_database)
    assert count["results"][0]["series"][0]["values"][0][1] == 2


@real_influxd
def test_a_conflict_inside_a_batch_that_creates_a_shard_refuses_it_whole(influxd, influx_database):
    # Pins the 1.6 behaviour that makes InfluxDBStore.write send such a batch twice.
    influxql(influxd.url, f'CREATE DATABASE "{influx_database}"')
    body = "m v=1i 1\nm v=1.5 2\nm v=3i 3"
    params = {"db": influx_database, "precision": "ns"}
    first = httpx.post(f"{influxd.url}/write", params=params, content=body.encode())
    assert (first.status_code, first.json()) == (400, {"error": "field type conflict"})
    assert "series" not in influxql(influxd.url, "SELECT * FROM m", influx_database)["results"][0]
    second = httpx.post(f"{influxd.url}/write", params=params, content=body.encode())
    assert second.status_code == 400
    assert second.json()["error"].startswith("partial write: field type conflict")
    assert second.json()["error"].endswith("dropped=1")
    rows = influxql(influxd.url, "SELECT * FROM m", influx_database)["results"][0]["series"]
    assert rows[0]["values"] == [[1, 1], [3, 3]]


# -- hostile input -------------------------------------------------------------------------

HOSTILE = [
    "x'; drop database stats; select '",
    '" OR 1=1 --',
    "\\",
    "\\'",
    "x' OR '1'='1",
    '"; DROP DATABASE "{db}"; --',
    "$event_id",
    "/.*/",
]


@real_influxd
@pytest.mark.parametrize("hostile", HOSTILE, ids=[f"h{i}" for i in range(len(HOSTILE))])
def test_injection_attempts_find_nothing_and_change_nothing(config, influxd, hostile):
    hostile = hostile.replace("{db}", config.database)
    stored = [event(f"e{i}", time_ns=T0 + i) for i in range(3)]

    async def scenario() -> tuple[list[object], int]:
        async with InfluxDBStore(config) as store:
            await store.write(stored)
            seen: list[object] = [await store.get(hostile)]
            for filters in ({"event": hostile}, {"uid": hostile}, {"measurement": hostile}):
                page = await store.query(EventQuery(since_ns=T0, until_ns=END, limit=10, **filters))
                seen.append(page.events)
            return seen, await store.count()

    seen, count = run(scenario)
    assert seen == [None, [], [], []]
    assert count == 3
    assert config.database in databases(influxd.url)


@real_influxd
def test_a_hostile_id_and_tag_are_stored_and_found_verbatim(config):
    hostile = "x'; drop database stats; select '\" OR 1=1 --"
    tricky = event(hostile, tags={"event": hostile}, fields={"uid": hostile})

    async def scenario() -> tuple[Event | None, list[Event]]:
        async with InfluxDBStore(config) as store:
            await store.write([tricky, event("plain", time_ns=T0 + 1)])
            page = await store.query(
                EventQuery(since_ns=T0, until_ns=END, limit=10, event=hostile, uid=hostile)
            )
            return await store.get(hostile), page.events

    assert run(scenario) == (tricky, [tricky])


# -- availability -----------------------------------------------------------------------------


@real_influxd
def test_health_write_and_open_while_influxd_is_stopped(influxd, config):
    async def scenario() -> None:
        async with InfluxDBStore(config) as store:
            assert (await store.health()).ok
            await store.write([event("before")])
            fresh = InfluxDBStore(
                InfluxDBConfig(url=influxd.url, database=config.database + "_late")
            )
            with influxd.stopped():
                health = await store.health()
                assert not health.ok
                assert "unreachable" in health.detail
                with pytest.raises(InfluxUnavailable) as caught:
                    await store.write([event("during", time_ns=T0 + 1)])
                assert isinstance(caught.value, ServiceUnavailable)
                with pytest.raises(InfluxUnavailable):
                    await store.get("before")
                await fresh.open()  # tolerated: the database is created on first write
                assert not (await fresh.health()).ok
            assert (await store.health()).ok
            await store.write([event("after", time_ns=T0 + 2)])
            assert await store.get("before") == event("before")
            assert await store.get("after") == event("after", time_ns=T0 + 2)
            assert await store.get("during") is None
            await fresh.write([event("late")])
            assert await fresh.get("late") == event("late")
            await fresh.close()

    run(scenario)


@real_influxd
def test_a_closed_store_reports_not_ok_and_refuses_work(config):
    async def scenario() -> None:
        store = InfluxDBStore(config)
        assert not (await store.health()).ok
        async with store:
            assert (await store.health()).ok
        assert not (await store.health()).ok
        with pytest.raises(ServiceUnavailable):
            await store.write([event("x")])
        with pytest.raises(ServiceUnavailable):
            await store.query(EventQuery(since_ns=0, until_ns=1, limit=1))

    run(scenario)


@real_influxd
def test_authentication_with_basic_auth_and_no_secret_in_errors(tmp_path, influx_database):
    with InfluxDServer(tmp_path, executable=require_influxd(), auth_enabled=True) as server:
        influxql(server.url, "CREATE USER admin WITH PASSWORD 'right-pass' WITH ALL PRIVILEGES")

        async def scenario() -> tuple[Event | None, InfluxUnavailable, str]:
            good = InfluxDBConfig(
                url=server.url, database=influx_database, username="admin", password="right-pass"
            )
            bad = InfluxDBConfig(
                url=server.url, database=influx_database, username="admin", password="wrong-pass"
            )
            async with InfluxDBStore(good) as store:
                await store.write([event("authed")])
                got = await store.get("authed")
            async with InfluxDBStore(bad) as store:
                with pytest.raises(InfluxUnavailable) as caught:
                    await store.write([event("nope")])
                return got, caught.value, repr(store.config)

        got, error, shown = run(scenario)
    assert got == event("authed")
    assert error.influx_status == 401
    assert "wrong-pass" not in str(error)
    assert "pass" not in shown.split("username")[1]


# -- error mapping over a fake transport (no influxd needed) ----------------------------------


def fake_store(handler: Callable[[httpx.Request], httpx.Response], **config) -> InfluxDBStore:
    return InfluxDBStore(
        InfluxDBConfig(url="http://influx.test:8086", **config),
        transport=httpx.MockTransport(handler),
    )


def ok_query(_request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"results": [{"statement_id": 0}]})


def test_write_sends_gzip_line_protocol_with_the_right_parameters():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/query":
            return ok_query(request)
        seen.append(request)
        return httpx.Response(204)

    store = fake_store(handler, database="db 1", retention_policy="rp", username="u", password="p")
    batch = [event("a"), event("b", time_ns=T0 + 1)]

    async def scenario() -> None:
        async with store:
            await store.write(batch)

    run(scenario)
    (request,) = seen
    assert request.method == "POST"
    assert request.url.path == "/write"
    assert dict(request.url.params) == {"db": "db 1", "precision": "ns", "rp": "rp"}
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.headers["Authorization"] == "Basic dTpw"
    assert gzip.decompress(request.content) == encode_events(batch)


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [
        (500, {}, 1),
        (503, {"Retry-After": "7"}, 7),
        (429, {"Retry-After": "3"}, 3),
        (408, {}, 1),
        (401, {}, 1),
        (403, {}, 1),
    ],
    ids=["500", "503-retry-after", "429-retry-after", "408", "401", "403"],
)
def test_retryable_write_answers_raise_unavailable(status, headers, retry_after):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/query":
            return ok_query(request)
        return httpx.Response(status, headers=headers, json={"error": "busy"})

    async def scenario() -> InfluxUnavailable:
        async with fake_store(handler) as store:
            with pytest.raises(InfluxUnavailable) as caught:
                await store.write([event("a")])
            return caught.value

    error = run(scenario)
    assert error.influx_status == status
    assert error.retry_after_seconds == retry_after


def test_a_body_too_large_rejects_the_whole_batch():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/query":
            return ok_query(request)
        return httpx.Response(413, json={"error": "Request Entity Too Large"})

    async def scenario() -> InfluxWriteRejected:
        async with fake_store(handler) as store:
            with pytest.raises(InfluxWriteRejected) as caught:
                await store.write([event("a"), event("b", time_ns=T0 + 1)])
            return caught.value

    error = run(scenario)
    assert error.influx_status == 413
    assert error.rejected_event_ids == frozenset({"a", "b"})


def test_an_unexplained_partial_write_leaves_the_rejected_ids_unknown():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/query":
            return ok_query(request)
        return httpx.Response(
            400, json={"error": "partial write: points beyond retention policy dropped=1"}
        )

    async def scenario() -> InfluxWriteRejected:
        async with fake_store(handler) as store:
            with pytest.raises(InfluxWriteRejected) as caught:
                await store.write([event("a"), event("b", time_ns=T0 + 1)])
            return caught.value

    error = run(scenario)
    assert error.dropped == 1
    assert error.rejected_event_ids is None


def test_secrets_never_appear_in_errors_or_health():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    store = InfluxDBStore(
        InfluxDBConfig(
            url="http://alice:url-secret@influx.test:8086",
            username="bob",
            password="pw-secret",
        ),
        transport=httpx.MockTransport(handler),
    )

    async def scenario() -> tuple[str, str]:
        async with store:
            health = await store.health()
            with pytest.raises(InfluxUnavailable) as caught:
                await store.write([event("a")])
            return health.detail, str(caught.value)

    detail, message = run(scenario)
    for text in (detail, message, repr(store.config)):
        assert "pw-secret" not in text
        assert "url-secret" not in text
    assert "unreachable" in message


def test_a_query_error_raises_query_failed():
    def handler(request: httpx.Request) -> httpx.Response:
        if b"CREATE" in request.content:
            return ok_query(request)
        return httpx.Response(200, json={"results": [{"statement_id": 0, "error": "boom"}]})

    async def scenario() -> None:
        async with fake_store(handler) as store:
            with pytest.raises(InfluxQueryFailed, match="boom"):
                await store.get("a")

    run(scenario)


def test_queries_bind_every_user_value():
    forms: list[dict[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        forms.append(parse_qs(request.content.decode()))
        return ok_query(request)

    hostile = "x'; drop database stats; select '"

    async def scenario() -> None:
        async with fake_store(handler) as store:
            await store.get(hostile)
            await store.query(
                EventQuery(since_ns=1, until_ns=9, limit=2, event=hostile, uid=hostile)
            )

    run(scenario)
    statements = [form["q"][0] for form in forms[1:]]
    assert statements, "no query was sent"
    for form, statement in zip(forms[1:], statements, strict=True):
        assert hostile not in statement
        assert hostile in json.loads(form["params"][0]).values()


# -- the fixture's guard -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ci", "outcome"),
    [("true", pytest.fail.Exception), (None, pytest.skip.Exception)],
    ids=["ci-fails", "elsewhere-skips"],
)
def test_a_missing_influxd_fails_under_ci_and_skips_elsewhere(monkeypatch, tmp_path, ci, outcome):
    monkeypatch.setenv("PATH", str(tmp_path))
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="make servers"):
        require_influxd()
