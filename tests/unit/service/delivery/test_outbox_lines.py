"""The outbox keeps the line it will send: rows, batches, the forwarder's line path, and the
migration of a file written before (``tests/data/outbox-step2.sqlite3``)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

from stats_service.delivery.forwarder import Forwarder
from stats_service.delivery.outbox import Outbox
from stats_service.delivery.outbox.schema import MIGRATIONS
from stats_service.delivery.queue import Rejection
from stats_service.delivery.sending import LineBackend
from stats_service.events.model import Event
from stats_service.storage.influx.lineprotocol import encode_event
from stats_service.storage.influx.stored import line_event

from .conftest import InfluxLikeBackend

T0 = 1_700_000_000_000_000_000
OLD_FILE = Path(__file__).resolve().parents[3] / "data" / "outbox-step2.sqlite3"


def rows(path: Path, where: str = "1") -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            f"SELECT event_id, state, line, body, size FROM outbox WHERE {where} ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()


class LineInfluxLikeBackend(InfluxLikeBackend):
    """The fake InfluxDB, taking lines as the real InfluxDB backends do."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []

    async def write_lines(self, lines: Sequence[tuple[str, bytes]]) -> None:
        self.bodies.append(b"\n".join(line for _, line in lines))
        events = [line_event(line) for _, line in lines]
        assert [e.event_id for e in events] == [event_id for event_id, _ in lines]
        await self.write(events)


def test_pending_rows_hold_the_encoders_line_and_no_body(
    outbox_path, make_outbox, make_event, run_bounded
):
    events = [make_event(f"e{i}", time_ns=T0 + i, fields={"n": i}) for i in range(3)]

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events)
        return await outbox.next_batch(10, 1 << 20)

    batch = run_bounded(scenario)
    stored = rows(outbox_path)
    assert [(r[0], r[1], r[2], r[3]) for r in stored] == [
        (e.event_id, 0, encode_event(e).encode(), None) for e in events
    ]
    assert [r[4] for r in stored] == [len(encode_event(e)) for e in events]
    assert [entry.line for entry in batch] == [encode_event(e).encode() for e in events]
    assert [entry.event for entry in batch] == events


def test_a_moved_time_is_moved_in_the_stored_line_too(make_outbox, make_event, run_bounded):
    async def scenario():
        outbox = make_outbox()
        await outbox.append([make_event("a", time_ns=T0)])
        await outbox.append([make_event("b", time_ns=T0)])
        return await outbox.next_batch(10, 1 << 20)

    batch = run_bounded(scenario)
    assert [entry.line.rsplit(b" ", 1)[1] for entry in batch] == [b"%d" % T0, b"%d" % (T0 + 1)]
    assert [entry.event.time_ns for entry in batch] == [T0, T0 + 1]


def test_an_event_no_line_stands_for_keeps_its_body_and_comes_back_whole(
    outbox_path, make_outbox, make_event, run_bounded
):
    odd = make_event("odd", tags={"empty": ""})

    async def scenario():
        outbox = make_outbox()
        await outbox.append([odd])
        return await outbox.next_batch(10, 1 << 20), await outbox.get_pending("odd")

    batch, pending = run_bounded(scenario)
    assert batch[0].line is None
    assert batch[0].event == odd
    assert pending == odd
    ((_, _, line, body, _),) = rows(outbox_path)
    assert line is None
    assert body is not None


def test_the_forwarder_sends_stored_lines_as_they_are(
    outbox_path, make_outbox, make_event, run_bounded
):
    backend = LineInfluxLikeBackend()
    assert isinstance(backend, LineBackend)
    events = [make_event(f"e{i}", time_ns=T0 + i, fields={"n": i}) for i in range(4)]

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events)
        outcome = await Forwarder(outbox, backend).forward_batch()
        return outcome, await outbox.counts()

    outcome, counts = run_bounded(scenario)
    assert (outcome.forwarded, outcome.dead_lettered, outcome.requests) == (4, 0, 1)
    assert backend.bodies == [b"\n".join(encode_event(e).encode() for e in events)]
    assert counts.pending_events == 0
    assert sorted(backend.stored_ids()) == [e.event_id for e in events]
    assert rows(outbox_path, "line IS NOT NULL OR body IS NOT NULL") == []


def test_a_refused_batch_is_split_to_dead_letter_exactly_the_bad_lines(
    make_outbox, make_event, run_bounded
):
    backend = LineInfluxLikeBackend()
    backend.rejected = {"e2": "field type conflict", "e5": "field type conflict"}
    backend.report_rejected_ids = False  # like InfluxDB 2: it cannot tell which
    events = [make_event(f"e{i}", time_ns=T0 + i) for i in range(8)]

    async def scenario():
        outbox = make_outbox()
        await outbox.append(events)
        outcome = await Forwarder(outbox, backend).forward_batch()
        return outcome, await outbox.deadletters()

    outcome, letters = run_bounded(scenario)
    assert (outcome.forwarded, outcome.dead_lettered) == (6, 2)
    assert [(d.event, d.status) for d in letters] == [(events[2], 400), (events[5], 400)]
    assert all("field type conflict" in d.reason for d in letters)
    assert backend.stored_ids() == sorted(f"e{i}" for i in (0, 1, 3, 4, 6, 7))


def test_an_event_that_cannot_be_encoded_is_dead_lettered_and_the_rest_sent(
    make_outbox, make_event, run_bounded
):
    backend = LineInfluxLikeBackend()
    bad = make_event("bad", tags={"a": "ends\\"})

    async def scenario():
        outbox = make_outbox()
        await outbox.append([make_event("good", time_ns=T0), bad])
        outcome = await Forwarder(outbox, backend).forward_batch()
        return outcome, await outbox.deadletters()

    outcome, letters = run_bounded(scenario)
    assert (outcome.forwarded, outcome.dead_lettered) == (1, 1)
    assert letters[0].event == bad
    assert "ends with a backslash" in letters[0].reason
    assert backend.stored_ids() == ["good"]


def test_replayed_dead_letters_are_sent_from_their_lines_again(
    make_outbox, make_event, run_bounded
):
    backend = LineInfluxLikeBackend()
    backend.rejected = {"e1": "no"}

    async def scenario():
        outbox = make_outbox()
        await outbox.append([make_event(f"e{i}", time_ns=T0 + i) for i in range(3)])
        forwarder = Forwarder(outbox, backend)
        await forwarder.forward_batch()
        backend.rejected = {}
        await outbox.replay()
        again = await forwarder.forward_batch()
        return again, await outbox.counts()

    again, counts = run_bounded(scenario)
    assert (again.forwarded, again.dead_lettered) == (1, 0)
    assert (counts.pending_events, counts.dead_letters) == (0, 0)
    assert backend.stored_ids() == ["e0", "e1", "e2"]


# -- the migration of files written before --------------------------------------------------


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "outbox.sqlite3"
    path.parent.mkdir()
    shutil.copyfile(OLD_FILE, path)
    return path


def version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def old_contents(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM outbox ORDER BY seq").fetchall()
    finally:
        conn.close()


def test_the_committed_file_is_at_the_previous_schema_step(old_file):
    assert version(old_file) == 2
    assert len(MIGRATIONS) == 3


def test_an_outbox_of_the_previous_format_is_migrated_on_start(old_file, run_bounded):
    async def scenario():
        outbox = Outbox(old_file, clock_ns=lambda: T0 + 1000)
        await outbox.start()
        try:
            batch = await outbox.next_batch(100, 1 << 20)
            letters = await outbox.deadletters()
            counts = await outbox.counts()
            again = await outbox.append([batch[0].event])  # pending id: skipped
            forwarded_again = await outbox.append([Event("f0", "analytics", T0 - 20)])
            return batch, letters, counts, again, forwarded_again
        finally:
            await outbox.stop()

    batch, letters, counts, again, forwarded_again = run_bounded(scenario)
    assert version(old_file) == 3
    assert [entry.event_id for entry in batch] == ["p0", "p1", "p2", "p3", "b0", "b1", "s1"]
    by_id = {entry.event_id: entry for entry in batch}
    for event_id in ("p0", "p1", "p2", "p3", "s1"):
        entry = by_id[event_id]
        assert entry.line == encode_event(entry.event).encode()
        assert entry.event.fields == {"uid": f"user-{event_id}", "n": 2, "ok": True, "x": 1.5}
        assert entry.event.tags == {"event": "signup", "identity": "web"}
    assert by_id["s1"].event.time_ns == T0 + 4  # its moved time is kept
    assert by_id["b0"].line is None
    assert by_id["b0"].event.tags["empty"] == ""
    assert by_id["b1"].line is None
    assert by_id["b1"].event.tags["a"] == "x\\"
    assert [(d.event.event_id, d.reason, d.status) for d in letters] == [
        ("d0", "partial write: bad d0", 400)
    ]
    assert letters[0].event.fields["uid"] == "user-d0"
    assert counts.pending_events == 7
    assert counts.pending_bytes == sum(entry.size for entry in batch)
    assert counts.dead_letters == 1
    assert again.inserted == 0
    assert forwarded_again.inserted == 0  # the forwarded rows' dedupe window survives
    dead = rows(old_file, "state = 2")
    assert dead[0][2] is not None
    assert dead[0][3] is None


def test_a_crash_in_the_middle_of_the_migration_loses_nothing(old_file, run_bounded):
    before = old_contents(old_file)
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from stats_service.delivery.outbox import migrate_lines, rows
        from stats_service.delivery.outbox.sqlite_outbox import Outbox

        calls = []
        real = migrate_lines.encode_row

        def crashing(event):
            calls.append(event)
            if len(calls) == 4:
                os._exit(17)  # the process dies with the step half done
            return real(event)

        migrate_lines.encode_row = crashing
        Outbox(Path({str(old_file)!r})).open()
        """
    )
    crashed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=60, check=False
    )
    assert crashed.returncode == 17, crashed.stderr
    assert version(old_file) == 2
    assert old_contents(old_file) == before  # the half-done step was rolled back

    async def scenario():
        outbox = Outbox(old_file, clock_ns=lambda: T0 + 1000)
        await outbox.start()
        try:
            return await outbox.next_batch(100, 1 << 20), await outbox.deadletters()
        finally:
            await outbox.stop()

    batch, letters = run_bounded(scenario)
    assert version(old_file) == 3
    assert len(batch) == 7
    assert len(letters) == 1
    assert sum(entry.line is not None for entry in batch) == 5


def test_migrated_events_are_forwarded_from_their_lines(old_file, run_bounded):
    backend = LineInfluxLikeBackend()

    async def scenario():
        outbox = Outbox(old_file, clock_ns=lambda: T0 + 1000)
        await outbox.start()
        try:
            outcome = await Forwarder(outbox, backend).forward_batch()
            return outcome, await outbox.counts()
        finally:
            await outbox.stop()

    outcome, counts = run_bounded(scenario)
    assert outcome.forwarded == 6  # b1 cannot be written as line protocol
    assert outcome.dead_lettered == 1
    assert counts.pending_events == 0
    assert "b0" in backend.stored_ids()


def test_rejections_keep_the_entry_it_was_given(make_outbox, make_event, run_bounded):
    async def scenario():
        outbox = make_outbox()
        await outbox.append([make_event("a")])
        (entry,) = await outbox.next_batch(10, 1 << 20)
        await outbox.settle([], [Rejection(entry, "bad", 400)])
        return entry, await outbox.deadletters()

    entry, letters = run_bounded(scenario)
    assert letters[0].event == entry.event
