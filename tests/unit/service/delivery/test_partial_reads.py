"""The two reads partial window pages need, the same on the SQLite outbox and in memory,
and the partial cursor's encoding."""

from __future__ import annotations

import base64
import sqlite3

import pytest

from stats_service.api.cursor import decode_position, encode_cursor, encode_partial_cursor
from stats_service.delivery.memory import MemoryQueue
from stats_service.delivery.outbox import Outbox
from stats_service.delivery.outbox.schema import MIGRATIONS
from stats_service.delivery.partial import PartialPosition, PartialReads
from stats_service.errors import InvalidInput

T0 = 1_700_000_000_000_000_000


@pytest.fixture(params=["sqlite", "memory"])
def make_queue(request, outbox_path, vtime):
    def build() -> Outbox | MemoryQueue:
        if request.param == "sqlite":
            return Outbox(outbox_path, clock_ns=vtime.wall_ns)
        return MemoryQueue(clock_ns=vtime.wall_ns)

    return build


def test_served_since_and_forwarded_since(make_queue, make_event, run_bounded, vtime):
    async def scenario() -> tuple[set[str], set[str], list[bool]]:
        queue = make_queue()
        assert isinstance(queue, PartialReads)
        await queue.start()
        try:
            await queue.append([make_event("old", time_ns=T0 + 1)])
            await queue.settle(await queue.next_batch(10, 1 << 20))  # forwarded at t
            vtime.advance(5)
            since = vtime.wall_ns()
            await queue.append([make_event("new", time_ns=T0 + 2)])
            await queue.append([make_event("waits", time_ns=T0 + 3)])
            batch = await queue.next_batch(1, 1 << 20)
            await queue.settle(batch)  # "new" forwarded after since; "waits" pending
            ids = ["old", "new", "waits", "unknown"]
            served = await queue.served_since(ids, since)
            served_all_time = await queue.served_since(ids, 0)
            ranges = [
                await queue.forwarded_since(since, None, (T0 + 2, "new")),
                await queue.forwarded_since(since, (T0 + 2, "new"), (T0 + 9, "z")),
                await queue.forwarded_since(since, None, (T0 + 1, "old")),
                await queue.forwarded_since(0, None, (T0 + 1, "old")),
            ]
            return served, served_all_time, ranges
        finally:
            await queue.stop()

    served, served_all_time, ranges = run_bounded(scenario)
    assert served == {"new", "waits"}
    assert served_all_time == {"old", "new", "waits"}
    assert ranges == [True, False, False, True]


def test_an_outbox_from_schema_1_gains_the_forwarded_index(outbox_path, tmp_path):
    outbox_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(outbox_path)
    conn.executescript(str(MIGRATIONS[0]))
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Outbox(outbox_path):
        pass
    conn = sqlite3.connect(outbox_path)
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    conn.close()
    assert "outbox_forwarded_by_done" in names
    assert version == len(MIGRATIONS)


@pytest.mark.parametrize(
    "position",
    [
        PartialPosition(None, None, 5),
        PartialPosition(None, (T0, "a-1"), 5),
        PartialPosition((T0, "a-1"), (T0 + 7, "b-2"), T0),
    ],
    ids=["empty", "from-start", "mid-window"],
)
def test_a_partial_cursor_round_trips(position):
    assert decode_position(encode_partial_cursor(position)) == position


def test_a_complete_cursor_still_decodes_to_its_key():
    assert decode_position(encode_cursor((T0, "a-1"))) == (T0, "a-1")


@pytest.mark.parametrize(
    "raw",
    ['["p",null,null,null,null,-1]', '["p",1,"bad id",null,null,5]', '["p",1,null,null,null,5]'],
    ids=["negative-time", "bad-id", "half-key"],
)
def test_a_forged_partial_cursor_is_a_422(raw):
    cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    with pytest.raises(InvalidInput) as caught:
        decode_position(cursor)
    assert caught.value.details == {"key": "cursor"}
