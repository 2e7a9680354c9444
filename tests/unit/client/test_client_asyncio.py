"""asyncio: log() is safe inside a running loop and aflush() never blocks the loop."""

from __future__ import annotations

import asyncio
import threading
import time

from stats_client import MemoryTransport


def test_log_inside_a_running_loop_and_aflush(make_client):
    transport = MemoryTransport()
    client = make_client(transport=transport)

    async def handler(n):
        client.log({"event": "request", "uid": str(n)})
        await asyncio.sleep(0)

    async def main():
        await asyncio.gather(*(handler(n) for n in range(50)))
        return await client.aflush(5)

    assert asyncio.run(main()) is True
    assert sorted(int(event["uid"]) for event in transport.events) == list(range(50))


def test_the_loop_keeps_running_while_aflush_waits(make_client, helpers):
    transport = helpers.ScriptedTransport()
    transport.gate = threading.Event()
    client = make_client(transport=transport)
    ticks = []

    async def ticker():
        for n in range(3):
            ticks.append(n)
            await asyncio.sleep(0)
        transport.gate.set()

    async def main():
        client.log({"event": "e", "uid": "u"})
        flushed, _ = await asyncio.gather(client.aflush(10), ticker())
        return flushed

    assert asyncio.run(main()) is True
    assert ticks == [0, 1, 2]


def test_aflush_times_out(make_client, helpers):
    transport = helpers.ScriptedTransport()
    transport.gate = threading.Event()
    client = make_client(transport=transport)

    async def main():
        client.log({"event": "e", "uid": "u"})
        return await client.aflush(0.05)

    try:
        assert asyncio.run(main()) is False
    finally:
        transport.gate.set()


def test_block_policy_never_blocks_inside_a_running_loop(make_client):
    client = make_client(
        transport=MemoryTransport(),
        drop_policy="block",
        block_timeout_seconds=60.0,
        max_queue_events=1,
        flush_interval_seconds=1000.0,
    )

    async def main():
        client.log({"event": "fills", "uid": "u"})
        started = time.monotonic()
        result = client.log({"event": "dropped", "uid": "u"})
        return result, time.monotonic() - started

    result, elapsed = asyncio.run(main())
    assert result is None
    # Generous bound: blocking would take the full 60 s block timeout.
    assert elapsed < 30
    assert client.counters().dropped == {"queue_full": 1}
