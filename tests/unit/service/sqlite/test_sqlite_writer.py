"""The group-commit writer and the read pool of stats_service.sqlite (writer.py, reader.py)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from stats_service.errors import ServiceUnavailable
from stats_service.sqlite import (
    DatabaseClosedError,
    Migration,
    SQLiteReader,
    SQLiteWriter,
    insert_rows,
)

T = TypeVar("T")

# Upper bound on any wait in this module; a correct writer never gets near it.
SAFETY_SECONDS = 10.0

SCHEMA: tuple[Migration, ...] = (
    """
    CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
    CREATE TABLE parents (id INTEGER PRIMARY KEY);
    CREATE TABLE children (
        id INTEGER PRIMARY KEY,
        parent_id INTEGER NOT NULL
            REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED
    );
    """,
)


def within(awaitable: Awaitable[T]) -> Awaitable[T]:
    return asyncio.wait_for(awaitable, SAFETY_SECONDS)


def insert(name: str) -> Callable[[sqlite3.Connection], int]:
    def unit(conn: sqlite3.Connection) -> int:
        cursor = conn.execute("INSERT INTO items (name) VALUES (?)", (name,))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    return unit


def insert_then_fail(name: str) -> Callable[[sqlite3.Connection], None]:
    def unit(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO items (name) VALUES (?)", (name,))
        raise ValueError(f"unit {name} failed")

    return unit


def stored_names(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [name for (name,) in conn.execute("SELECT name FROM items ORDER BY name")]
    finally:
        conn.close()


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        return int(version)
    finally:
        conn.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "test.sqlite3"


@pytest.fixture
def make_writer(db_path: Path) -> Iterator[Callable[..., SQLiteWriter]]:
    """Open writers on ``db_path``; every one still running is closed after the test."""
    opened: list[SQLiteWriter] = []

    def build(**options: Any) -> SQLiteWriter:
        options.setdefault("migrations", SCHEMA)
        writer = SQLiteWriter(db_path, **options)
        writer.open()
        opened.append(writer)
        return writer

    yield build
    for writer in opened:
        assert writer.close(SAFETY_SECONDS)


# -- opening, schema and connection settings ---------------------------------


def test_open_applies_schema_and_records_its_version(make_writer, db_path):
    writer = make_writer()
    assert writer.running
    assert user_version(db_path) == len(SCHEMA)
    assert writer.close()
    assert not writer.running
    # Reopening must not run the step again (CREATE TABLE would fail).
    make_writer()
    assert user_version(db_path) == len(SCHEMA)


def test_open_applies_only_the_missing_steps(make_writer, db_path):
    make_writer().close()

    def add_column(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE items ADD COLUMN colour TEXT")

    writer = make_writer(
        migrations=(*SCHEMA, add_column, "CREATE INDEX by_colour ON items (colour);")
    )
    assert user_version(db_path) == 3
    row_id = writer.submit_sync(
        lambda conn: conn.execute("INSERT INTO items (name, colour) VALUES ('a', 'red')").lastrowid
    )
    assert row_id == 1


def test_open_refuses_a_schema_newer_than_the_code(make_writer, db_path):
    make_writer(migrations=(*SCHEMA, "CREATE TABLE later (x);")).close()
    writer = SQLiteWriter(db_path, migrations=SCHEMA)
    with pytest.raises(sqlite3.DatabaseError, match="newer than this code knows"):
        writer.open()
    assert not writer.running
    with pytest.raises(DatabaseClosedError):
        writer.submit_sync(insert("a"))


def test_a_failing_migration_step_leaves_no_trace(make_writer, db_path):
    make_writer().close()
    broken = "CREATE TABLE half (x); CREATE TABL oops (y);"
    writer = SQLiteWriter(db_path, migrations=(*SCHEMA, broken))
    with pytest.raises(sqlite3.OperationalError):
        writer.open()
    assert user_version(db_path) == 1
    conn = sqlite3.connect(db_path)
    try:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()
    assert "half" not in tables


def test_a_migration_script_keeps_trigger_bodies_whole(make_writer):
    trigger = """
        CREATE TABLE audit (name TEXT);
        CREATE TRIGGER items_audit AFTER INSERT ON items BEGIN
            INSERT INTO audit (name) VALUES (new.name || ';');
        END;
    """
    writer = make_writer(migrations=(*SCHEMA, trigger))
    writer.submit_sync(insert("x"))
    assert writer.submit_sync(lambda conn: conn.execute("SELECT name FROM audit").fetchall()) == [
        ("x;",)
    ]


@pytest.mark.parametrize(
    ("pragma", "expected"),
    [
        ("journal_mode", "wal"),
        ("synchronous", 2),  # FULL
        ("foreign_keys", 1),
        ("busy_timeout", 2500),
    ],
    ids=["wal", "synchronous-full", "foreign-keys", "busy-timeout"],
)
def test_the_write_connection_is_configured(make_writer, pragma, expected):
    writer = make_writer(busy_timeout_seconds=2.5)
    (value,) = writer.submit_sync(lambda conn: conn.execute(f"PRAGMA {pragma}").fetchone())
    assert value == expected


def test_the_writer_thread_is_named_and_stops_on_close(make_writer):
    writer = make_writer(thread_name="stats-test-writer")
    assert "stats-test-writer" in {thread.name for thread in threading.enumerate()}
    assert writer.close()
    assert "stats-test-writer" not in {thread.name for thread in threading.enumerate()}


def test_open_twice_is_refused(make_writer):
    writer = make_writer()
    with pytest.raises(RuntimeError, match="opens once"):
        writer.open()


def test_the_closed_error_is_a_service_unavailable():
    assert issubclass(DatabaseClosedError, ServiceUnavailable)


@pytest.mark.parametrize("phase", ["never-opened", "closed"], ids=["never-opened", "closed"])
def test_submitting_to_a_writer_that_is_not_running_raises(make_writer, db_path, phase):
    if phase == "never-opened":
        writer = SQLiteWriter(db_path, migrations=SCHEMA)
    else:
        writer = make_writer()
        assert writer.close()
    with pytest.raises(DatabaseClosedError):
        writer.submit_sync(insert("a"))

    async def main() -> None:
        with pytest.raises(DatabaseClosedError):
            writer.submit(insert("b"))

    asyncio.run(main())
    assert writer.close()


# -- submitting units ---------------------------------------------------------


def test_submit_resolves_with_the_units_result(make_writer, db_path):
    writer = make_writer()

    async def main() -> list[int]:
        return [await within(writer.submit(insert(name))) for name in ("a", "b")]

    assert asyncio.run(main()) == [1, 2]
    assert stored_names(db_path) == ["a", "b"]
    assert writer.commits == 2


def test_submit_sync_serves_plain_threads(make_writer, db_path):
    writer = make_writer()
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(lambda i: writer.submit_sync(insert(f"n{i:02d}")), range(20)))
    assert sorted(ids) == list(range(1, 21))
    assert stored_names(db_path) == [f"n{i:02d}" for i in range(20)]


def test_submit_sync_inside_a_unit_is_refused(make_writer):
    writer = make_writer()

    def nested(conn: sqlite3.Connection) -> None:
        writer.submit_sync(insert("inner"))

    with pytest.raises(RuntimeError, match="wait for itself"):
        writer.submit_sync(nested)


def test_a_unit_raising_stop_iteration_fails_with_runtime_error(make_writer):
    writer = make_writer()

    def stop(conn: sqlite3.Connection) -> None:
        raise StopIteration

    async def main() -> None:
        with pytest.raises(RuntimeError, match="StopIteration"):
            await within(writer.submit(stop))

    asyncio.run(main())


# -- group commit ---------------------------------------------------------------


def test_units_queued_together_share_one_commit(make_writer, db_path, gate):
    writer = make_writer()

    async def one(i: int) -> int:
        return await writer.submit(insert(f"n{i:02d}"))

    async def main() -> list[int]:
        held = writer.submit(gate)
        gate.wait_entered()
        before = writer.commits
        tasks = [asyncio.create_task(one(i)) for i in range(64)]
        await asyncio.sleep(0)  # every task has now queued its unit
        assert writer.pending == 64
        gate.release.set()
        assert await within(held) == "gate"
        ids = await within(asyncio.gather(*tasks))
        assert writer.commits == before + 2  # the gate's group, then all 64 together
        return ids

    assert sorted(asyncio.run(main())) == list(range(1, 65))
    assert len(stored_names(db_path)) == 64


def test_a_failing_unit_fails_only_itself(make_writer, db_path, gate):
    writer = make_writer()

    async def main() -> None:
        held = writer.submit(gate)
        gate.wait_entered()
        before = writer.commits
        first = writer.submit(insert("first"))
        broken = writer.submit(insert_then_fail("broken"))
        last = writer.submit(insert("last"))
        gate.release.set()
        await within(held)
        assert await within(first) == 1
        with pytest.raises(ValueError, match="unit broken failed"):
            await within(broken)
        assert await within(last) == 2  # the broken unit's row was rolled back: id 2 is free
        assert writer.commits == before + 2

    asyncio.run(main())
    assert stored_names(db_path) == ["first", "last"]


def test_a_constraint_error_in_one_unit_spares_the_group(make_writer, db_path, gate):
    writer = make_writer()
    writer.submit_sync(insert("taken"))

    async def main() -> None:
        held = writer.submit(gate)
        gate.wait_entered()
        duplicate = writer.submit(insert("taken"))
        fresh = writer.submit(insert("fresh"))
        gate.release.set()
        await within(held)
        with pytest.raises(sqlite3.IntegrityError):
            await within(duplicate)
        await within(fresh)

    asyncio.run(main())
    assert stored_names(db_path) == ["fresh", "taken"]


def test_a_group_of_only_failures_commits_nothing(make_writer, db_path, gate):
    writer = make_writer()

    async def main() -> None:
        held = writer.submit(gate)
        gate.wait_entered()
        failures = [writer.submit(insert_then_fail(f"f{i}")) for i in range(3)]
        gate.release.set()
        await within(held)
        before = writer.commits
        results = await within(asyncio.gather(*failures, return_exceptions=True))
        assert all(isinstance(result, ValueError) for result in results)
        assert writer.commits == before

    asyncio.run(main())
    assert stored_names(db_path) == []


def test_a_failed_commit_fails_every_unit_of_the_group(make_writer, db_path, gate):
    writer = make_writer()

    def orphan(conn: sqlite3.Connection) -> None:
        # A deferred foreign key is checked only at COMMIT, which then fails.
        conn.execute("INSERT INTO children (parent_id) VALUES (42)")

    async def main() -> None:
        held = writer.submit(gate)
        gate.wait_entered()
        good = writer.submit(insert("good"))
        bad = writer.submit(orphan)
        gate.release.set()
        await within(held)
        for future in (good, bad):
            with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
                await within(future)
        # The writer carries on with a clean transaction.
        assert await within(writer.submit(insert("after"))) >= 1

    asyncio.run(main())
    assert stored_names(db_path) == ["after"]


def test_a_unit_that_ends_the_transaction_takes_earlier_units_with_it(make_writer, db_path, gate):
    # Stands in for SQLite abandoning a transaction (disk full, I/O error).
    writer = make_writer()

    def abandon(conn: sqlite3.Connection) -> None:
        conn.execute("ROLLBACK")

    async def main() -> None:
        held = writer.submit(gate)
        gate.wait_entered()
        early = writer.submit(insert("early"))
        rogue = writer.submit(abandon)
        late = writer.submit(insert("late"))
        gate.release.set()
        await within(held)
        for future in (early, rogue):
            with pytest.raises(sqlite3.OperationalError, match="rolled back"):
                await within(future)
        await within(late)

    asyncio.run(main())
    assert stored_names(db_path) == ["late"]


def test_groups_are_capped_by_unit_count(make_writer, db_path, gate):
    writer = make_writer(max_batch_units=2)

    async def main() -> None:
        held = writer.submit(gate)
        gate.wait_entered()
        before = writer.commits
        futures = [writer.submit(insert(f"n{i}")) for i in range(5)]
        gate.release.set()
        await within(held)
        await within(asyncio.gather(*futures))
        assert writer.commits == before + 1 + 3  # groups of 2, 2 and 1

    asyncio.run(main())
    assert len(stored_names(db_path)) == 5


def test_groups_are_capped_by_byte_budget(make_writer, db_path, gate):
    writer = make_writer(max_batch_bytes=100)

    async def main() -> None:
        held = writer.submit(gate)
        gate.wait_entered()
        before = writer.commits
        sizes = [60, 30, 60, 500, 10]  # groups: [60, 30], [60], [500], [10]
        futures = [writer.submit(insert(f"n{i}"), size_bytes=size) for i, size in enumerate(sizes)]
        gate.release.set()
        await within(held)
        await within(asyncio.gather(*futures))
        assert writer.commits == before + 1 + 4

    asyncio.run(main())
    assert len(stored_names(db_path)) == 5


def test_a_cancelled_caller_does_not_withdraw_its_unit(make_writer, db_path, gate):
    writer = make_writer()

    async def main() -> None:
        held = writer.submit(gate)
        gate.wait_entered()
        abandoned = writer.submit(insert("kept"))
        abandoned.cancel()
        gate.release.set()
        await within(held)
        await within(writer.submit(insert("next")))

    asyncio.run(main())
    assert stored_names(db_path) == ["kept", "next"]


class WriterFault(BaseException):
    """Escapes the per-unit handling, like an interpreter-level fault would."""


def test_a_fault_in_the_writer_fails_callers_instead_of_stranding_them(
    make_writer, db_path, caplog, gate
):
    writer = make_writer()

    def fault(conn: sqlite3.Connection) -> None:
        raise WriterFault

    async def main() -> None:
        held = writer.submit(gate)
        gate.wait_entered()
        doomed = [writer.submit(fault), writer.submit(insert("same-group"))]
        gate.release.set()
        await within(held)
        for future in doomed:
            with pytest.raises(DatabaseClosedError):
                await within(future)

    asyncio.run(main())
    assert writer.close(SAFETY_SECONDS)
    assert not writer.running
    with pytest.raises(DatabaseClosedError):
        writer.submit_sync(insert("after"))
    assert "stopped on an unexpected error" in caplog.text
    assert stored_names(db_path) == []


# -- closing --------------------------------------------------------------------


def test_close_runs_every_unit_already_queued(make_writer, db_path, gate, until):
    writer = make_writer()

    async def main() -> None:
        held = writer.submit(gate)
        gate.wait_entered()
        queued = [writer.submit(insert(f"n{i}")) for i in range(10)]
        closing = asyncio.create_task(asyncio.to_thread(writer.close, SAFETY_SECONDS))
        await within(until(lambda: not writer.running))  # close() has begun
        gate.release.set()
        assert await within(closing)
        await within(held)
        assert await within(asyncio.gather(*queued)) == list(range(1, 11))

    asyncio.run(main())
    assert len(stored_names(db_path)) == 10


def test_close_gives_up_after_its_timeout_and_can_be_retried(make_writer, db_path, gate):
    writer = make_writer()
    outcome: concurrent.futures.Future[str] = concurrent.futures.Future()
    threading.Thread(target=lambda: outcome.set_result(writer.submit_sync(gate))).start()
    gate.wait_entered()
    assert writer.close(timeout_seconds=0.01) is False  # the gate still holds the thread
    with pytest.raises(DatabaseClosedError):
        writer.submit_sync(insert("too late"))
    gate.release.set()
    assert writer.close(SAFETY_SECONDS) is True
    assert outcome.result(SAFETY_SECONDS) == "gate"


# -- reading --------------------------------------------------------------------


@pytest.fixture
def make_reader(db_path: Path) -> Iterator[Callable[..., SQLiteReader]]:
    opened: list[SQLiteReader] = []

    def build(**options: Any) -> SQLiteReader:
        reader = SQLiteReader(db_path, **options)
        opened.append(reader)
        return reader

    yield build
    for reader in opened:
        reader.close()


def test_reads_see_committed_writes(make_writer, make_reader):
    writer = make_writer()
    reader = make_reader()
    writer.submit_sync(insert("a"))

    async def main() -> list[tuple[str]]:
        return await within(
            reader.run(lambda conn: conn.execute("SELECT name FROM items").fetchall())
        )

    assert asyncio.run(main()) == [("a",)]


def test_reads_proceed_while_the_writer_holds_a_transaction(make_writer, make_reader, gate):
    writer = make_writer()
    reader = make_reader()
    writer.submit_sync(insert("committed"))

    def write_then_hold(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO items (name) VALUES ('uncommitted')")
        gate(conn)

    async def main() -> list[tuple[str]]:
        held = writer.submit(write_then_hold)
        gate.wait_entered()
        try:
            return await within(
                reader.run(lambda conn: conn.execute("SELECT name FROM items").fetchall())
            )
        finally:
            gate.release.set()
            await within(held)

    assert asyncio.run(main()) == [("committed",)]


def test_read_connections_cannot_write(make_writer, make_reader):
    make_writer()
    reader = make_reader()
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.run_sync(lambda conn: conn.execute("INSERT INTO items (name) VALUES ('x')"))


def test_read_connections_are_reused(make_writer, make_reader):
    make_writer()
    reader = make_reader(max_connections=1)
    first = reader.run_sync(id)
    second = reader.run_sync(id)
    assert first == second


def test_reading_a_missing_file_does_not_create_it(tmp_path, make_reader):
    missing = tmp_path / "missing.sqlite3"
    reader = SQLiteReader(missing)
    try:
        with pytest.raises(sqlite3.OperationalError):
            reader.run_sync(lambda conn: conn.execute("SELECT 1").fetchall())
    finally:
        reader.close()
    assert not missing.exists()


def test_a_closed_reader_refuses_work(make_writer, make_reader):
    make_writer()
    reader = make_reader()
    reader.close()
    with pytest.raises(DatabaseClosedError):
        reader.run_sync(lambda conn: conn.execute("SELECT 1").fetchall())

    async def main() -> None:
        with pytest.raises(DatabaseClosedError):
            await reader.run(lambda conn: conn.execute("SELECT 1").fetchall())

    asyncio.run(main())


@pytest.mark.parametrize(
    ("cls", "option"),
    [(SQLiteWriter, "max_batch_units"), (SQLiteReader, "max_connections")],
    ids=["writer", "reader"],
)
def test_sizes_below_one_are_refused(db_path, cls, option):
    with pytest.raises(ValueError, match=option):
        cls(db_path, **{option: 0})


def _savepoints_seen(conn: sqlite3.Connection) -> bool:
    """Whether the unit runs inside the writer's ``unit`` savepoint."""
    try:
        conn.execute("SAVEPOINT probe")
        conn.execute("ROLLBACK TO unit")  # fails unless that savepoint exists
    except sqlite3.OperationalError:
        conn.execute("RELEASE probe")
        return False
    return True


def test_a_lone_unit_runs_without_a_savepoint_and_still_fails_alone(make_writer, db_path):
    writer = make_writer()

    async def main() -> None:
        assert await within(writer.submit(_savepoints_seen)) is False
        with pytest.raises(ValueError, match="unit lone failed"):
            await within(writer.submit(insert_then_fail("lone")))
        assert await within(writer.submit(insert("after"))) == 1  # the failed row is gone

    asyncio.run(main())
    assert stored_names(db_path) == ["after"]


def test_units_sharing_a_group_keep_their_savepoints(make_writer, gate):
    writer = make_writer()

    async def main() -> list[bool]:
        held = writer.submit(gate)
        gate.wait_entered()
        probes = [writer.submit(_savepoints_seen) for _ in range(2)]
        gate.release.set()
        await within(held)
        return [await within(probe) for probe in probes]

    assert asyncio.run(main()) == [True, True]


@pytest.mark.parametrize("count", [0, 1, 5, 64, 341])
def test_insert_rows_keeps_every_row_in_order_with_few_statements(count: int) -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (n INTEGER, s TEXT UNIQUE)")
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    rows = [(n, f"s{n}") for n in range(count)]
    insert_rows(conn, "INSERT INTO t (n, s) VALUES", rows)
    conn.set_trace_callback(None)
    assert conn.execute("SELECT n, s FROM t ORDER BY rowid").fetchall() == rows
    # 341 = 256 + 64 + 16 + 4 + 1: one statement per chunk, not one per row.
    assert len(statements) == {0: 0, 1: 1, 5: 2, 64: 1, 341: 5}[count]


def test_insert_rows_applies_the_suffix_to_every_row() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
    rows = [("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5)]
    insert_rows(conn, "INSERT INTO t (k, v) VALUES", rows, suffix="ON CONFLICT (k) DO NOTHING")
    assert conn.execute("SELECT k, v FROM t ORDER BY k").fetchall() == [
        ("a", 1),
        ("b", 2),
        ("c", 4),
    ]
