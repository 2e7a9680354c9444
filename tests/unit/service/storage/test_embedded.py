"""What only the embedded store promises: a file that outlives it, and group commit."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import orjson
import pytest

from stats_service.events.model import Event
from stats_service.sqlite.rows import encode_body
from stats_service.sqlite.schema import migrate
from stats_service.storage.base import EventQuery
from stats_service.storage.embedded import _MIGRATIONS, EmbeddedStore, _window_sql

T = TypeVar("T")

T0 = 1_700_000_000_000_000_000


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), 30)

    return asyncio.run(bounded())


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "events.sqlite3"


def raw_rows(path: Path) -> list[tuple[str, str, int, str | None, str | None, bytes]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT event_id, measurement, time_ns, event, uid, body FROM events ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()


def test_open_creates_the_directory_and_schema(tmp_path):
    path = tmp_path / "a" / "b" / "events.sqlite3"

    async def scenario() -> None:
        store = EmbeddedStore(path)
        await store.open()
        await store.close()

    run(scenario)
    assert path.is_file()
    assert raw_rows(path) == []


def test_events_survive_a_new_store_on_the_same_file(db_path, make_event):
    events = [make_event(f"e{i}", time_ns=T0 + i, fields={"n": i, "ok": True}) for i in range(3)]

    async def write() -> None:
        store = EmbeddedStore(db_path)
        await store.open()
        await store.write(events)
        await store.close()

    async def read() -> tuple[Event | None, list[Event]]:
        store = EmbeddedStore(db_path)
        await store.open()
        try:
            page = await store.query(EventQuery(since_ns=T0, until_ns=T0 + 10, limit=10))
            return await store.get("e1"), page.events
        finally:
            await store.close()

    run(write)
    one, everything = run(read)
    assert one == events[1]
    assert everything == events


def test_a_write_is_committed_when_it_returns(db_path, make_event):
    """Seen from an independent connection the moment ``write`` returns."""
    event = make_event("now", uid="u-9", fields={"x": 1.0})

    async def scenario() -> list[tuple[str, str, int, str | None, str | None, bytes]]:
        store = EmbeddedStore(db_path)
        await store.open()
        try:
            await store.write([event])
            return raw_rows(db_path)
        finally:
            await store.close()

    rows = run(scenario)
    assert len(rows) == 1
    event_id, measurement, time_ns, tag, uid, body = rows[0]
    assert (event_id, measurement, time_ns, tag, uid) == ("now", "analytics", T0, "signup", "u-9")
    assert orjson.loads(body) == [event.tags, event.fields]


def test_only_a_string_uid_fills_the_indexed_column(db_path, make_event):
    async def scenario() -> None:
        store = EmbeddedStore(db_path)
        await store.open()
        try:
            await store.write(
                [make_event("int-uid", uid=7), make_event("no-uid", uid=None, event=None)]
            )
        finally:
            await store.close()

    run(scenario)
    assert [(row[0], row[3], row[4]) for row in raw_rows(db_path)] == [
        ("int-uid", "signup", None),
        ("no-uid", None, None),
    ]


def test_open_is_idempotent(db_path):
    async def scenario() -> None:
        store = EmbeddedStore(db_path)
        await store.open()
        writer = store.writer
        await store.open()
        assert store.writer is writer
        await store.close()

    run(scenario)


def test_concurrent_opens_start_one_writer(db_path):
    async def scenario() -> int:
        store = EmbeddedStore(db_path)
        await asyncio.gather(store.open(), store.open(), store.open())
        writers = [t for t in threading.enumerate() if t.name.startswith("stats-events-writer")]
        await store.close()
        return len(writers)

    assert run(scenario) == 1


def test_a_newer_schema_is_refused(db_path):
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()

    async def scenario() -> None:
        store = EmbeddedStore(db_path)
        with pytest.raises(sqlite3.DatabaseError, match="newer"):
            await store.open()
        assert not (await store.health()).ok

    run(scenario)


def test_concurrent_writers_all_land_and_share_commits(db_path, make_event):
    writers = 64

    async def scenario() -> tuple[int, int]:
        store = EmbeddedStore(db_path)
        await store.open()
        try:
            before = store.writer.commits
            await asyncio.gather(
                *(
                    store.write([make_event(f"c{i:02d}", time_ns=T0 + i % 3)])
                    for i in range(writers)
                )
            )
            page = await store.query(EventQuery(since_ns=T0, until_ns=T0 + 3, limit=1000))
            return len(page.events), store.writer.commits - before
        finally:
            await store.close()

    landed, commits = run(scenario)
    assert landed == writers
    # Every write was submitted before the writer could commit most of them.
    assert 1 <= commits <= writers // 8


def test_a_failing_write_does_not_sink_the_others_in_its_group(db_path, make_event, gate):

    async def scenario() -> None:
        store = EmbeddedStore(db_path)
        await store.open()
        try:
            held = store.writer.submit(gate)
            gate.wait_entered()
            before = store.writer.commits
            first = asyncio.create_task(store.write([make_event("first")]))
            # 2**63 does not fit SQLite's INTEGER: the whole write fails, atomically.
            broken = asyncio.create_task(
                store.write([make_event("good-part"), make_event("bad", time_ns=2**63)])
            )
            last = asyncio.create_task(store.write([make_event("last")]))
            await asyncio.sleep(0)  # the three writes are made in one loop turn...
            await asyncio.sleep(0)  # ...and queued behind the gate as one shared unit
            assert store.writer.pending == 1
            gate.release.set()
            await held
            await first
            with pytest.raises(OverflowError):
                await broken
            await last
            # The gate's group, then the shared unit (the bad write undone alone).
            assert store.writer.commits == before + 2
            assert await store.get("good-part") is None
            assert await store.get("first") is not None
            assert await store.get("last") is not None
        finally:
            await store.close()

    run(scenario)


def test_writes_of_one_loop_turn_share_one_unit(db_path, make_event, gate):

    async def scenario() -> None:
        store = EmbeddedStore(db_path)
        await store.open()
        try:
            held = store.writer.submit(gate)
            gate.wait_entered()
            before = store.writer.commits
            writes = [
                asyncio.create_task(store.write([make_event(f"t{i:02d}", time_ns=T0 + i)]))
                for i in range(20)
            ]
            await asyncio.sleep(0)  # every write is made...
            await asyncio.sleep(0)  # ...and submitted
            assert store.writer.pending == 1
            gate.release.set()
            await held
            await asyncio.gather(*writes)
            assert store.writer.commits == before + 2  # the gate's group, then the shared unit
        finally:
            await store.close()

    run(scenario)
    assert [row[0] for row in raw_rows(db_path)] == [f"t{i:02d}" for i in range(20)]


def test_close_commits_writes_made_in_the_same_loop_turn(db_path, make_event):
    async def scenario() -> None:
        store = EmbeddedStore(db_path)
        await store.open()
        writes = [
            asyncio.create_task(store.write([make_event(f"s{i}", time_ns=T0 + i)]))
            for i in range(5)
        ]
        await asyncio.sleep(0)  # made, not yet submitted
        assert store.writer.pending == 0
        await store.close()
        await asyncio.gather(*writes)

    run(scenario)
    assert [row[0] for row in raw_rows(db_path)] == [f"s{i}" for i in range(5)]


def test_a_bad_write_in_a_shared_unit_fails_alone_at_close(db_path, make_event):
    async def scenario() -> list[BaseException | None]:
        store = EmbeddedStore(db_path)
        await store.open()
        writes = [
            asyncio.create_task(store.write([make_event("first")])),
            asyncio.create_task(store.write([make_event("bad", time_ns=2**63)])),
            asyncio.create_task(store.write([make_event("last")])),
        ]
        await asyncio.sleep(0)  # made, not yet submitted
        await store.close()
        return list(await asyncio.gather(*writes, return_exceptions=True))

    outcomes = run(scenario)
    assert outcomes[0] is None
    assert isinstance(outcomes[1], OverflowError)
    assert outcomes[2] is None
    assert sorted(row[0] for row in raw_rows(db_path)) == ["first", "last"]


def test_close_commits_writes_already_submitted(db_path, make_event, gate, until):

    async def scenario() -> None:
        store = EmbeddedStore(db_path)
        await store.open()
        writer = store.writer
        held = writer.submit(gate)
        gate.wait_entered()
        writes = [
            asyncio.create_task(store.write([make_event(f"w{i}", time_ns=T0 + i)]))
            for i in range(10)
        ]
        await asyncio.sleep(0)  # every write is queued behind the gate
        closing = asyncio.create_task(store.close())
        await until(lambda: not writer.running)  # close has begun
        gate.release.set()
        await closing
        await held
        await asyncio.gather(*writes)

    run(scenario)
    assert [row[0] for row in raw_rows(db_path)] == [f"w{i}" for i in range(10)]


def test_writes_made_while_a_group_commits_wait_and_go_together(db_path, make_event, gate, until):

    async def scenario() -> tuple[int, int]:
        store = EmbeddedStore(db_path)
        await store.open()
        writer = store.writer
        held = writer.submit(gate)
        gate.wait_entered()
        before = writer.commits
        first = asyncio.create_task(store.write([make_event("w0", time_ns=T0)]))
        await until(lambda: writer.pending == 1)  # the first group is queued behind the gate
        later = []
        for i in range(1, 10):
            later.append(asyncio.create_task(store.write([make_event(f"w{i}", time_ns=T0 + i)])))
            await asyncio.sleep(0)  # each write in its own event-loop turn
        queued = writer.pending
        gate.release.set()
        await held
        await asyncio.gather(first, *later)
        commits = writer.commits - before
        await store.close()
        return queued, commits

    queued, commits = run(scenario)
    assert queued == 1  # the nine later writes waited in the store, not in the writer's queue
    assert commits == 3  # the gate, the first write, then the nine together
    assert [row[0] for row in raw_rows(db_path)] == [f"w{i}" for i in range(10)]


def test_health_reports_queued_writes(db_path):
    async def scenario() -> str:
        store = EmbeddedStore(db_path)
        await store.open()
        try:
            health = await store.health()
            assert health.ok
            return health.detail
        finally:
            await store.close()

    assert "0 writes queued" in run(scenario)


WINDOW_SHAPES = [
    ({}, "events_by_time"),
    ({"after": (T0 + 5, "x")}, "events_by_time"),
    ({"event": "signup"}, "events_by_event"),
    ({"uid": "u1"}, "events_by_time"),  # uid is not indexed: the window is scanned
    ({"measurement": "cpu"}, "events_by_measurement"),
    ({"event": "signup", "after": (T0 + 5, "x")}, "events_by_event"),
]


@pytest.mark.parametrize(
    ("filters", "index"),
    WINDOW_SHAPES,
    ids=["window", "window-after", "event", "uid", "measurement", "event-after"],
)
def test_every_query_shape_is_served_by_an_index_in_order(db_path, filters, index):
    async def create() -> None:
        store = EmbeddedStore(db_path)
        await store.open()
        await store.close()

    run(create)
    sql, params = _window_sql(EventQuery(since_ns=T0, until_ns=T0 + 100, limit=10, **filters))
    conn = sqlite3.connect(db_path)
    try:
        plan = " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    finally:
        conn.close()
    assert f"USING INDEX {index} " in plan
    assert "TEMP B-TREE" not in plan  # no sort step: the index gives the order


def test_a_file_of_the_first_schema_loses_the_uid_index_and_keeps_its_events(db_path, make_event):
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        migrate(conn, _MIGRATIONS[:1])
        conn.execute(
            "INSERT INTO events (event_id, measurement, time_ns, event, uid, body)"
            " VALUES ('old-1', 'analytics', ?, 'e', 'u1', ?)",
            (T0, encode_body(make_event("old-1"))),
        )
    finally:
        conn.close()

    async def scenario() -> Event | None:
        store = EmbeddedStore(db_path)
        await store.open()
        try:
            return await store.get("old-1")
        finally:
            await store.close()

    found = run(scenario)
    assert found is not None
    assert found.event_id == "old-1"
    conn = sqlite3.connect(db_path)
    try:
        indexes = {
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        (version,) = conn.execute("PRAGMA user_version").fetchone()
    finally:
        conn.close()
    assert "events_by_uid" not in indexes
    assert "events_by_event" in indexes
    assert version == len(_MIGRATIONS)
