"""Write ``outbox-step2.sqlite3``: an outbox as the release before line storage wrote it.

Run it with that release's code on the path, not this checkout's, e.g.::

    git archive <release> service | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old/service python tests/data/make_outbox_step2.py tests/data

It only uses the outbox's public API. The file holds (all at fixed times):
``p0``..``p3`` pending, ``f0``/``f1`` forwarded, ``d0`` dead-lettered, ``b0``
pending with an empty tag value and ``b1`` pending with a tag value ending in a
backslash (no line stands for either), and ``s1`` pending, moved by 1 ns because
``p0`` holds its series and time.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from stats_service.delivery.outbox import Outbox
from stats_service.delivery.queue import Rejection
from stats_service.events.model import Event

T0 = 1_700_000_000_000_000_000


def event(event_id: str, time_ns: int, **tags: str) -> Event:
    return Event(
        event_id=event_id,
        measurement="analytics",
        time_ns=time_ns,
        tags={"event": "signup", **tags},
        fields={"uid": f"user-{event_id}", "n": len(event_id), "ok": True, "x": 1.5},
    )


async def write(path: Path) -> None:
    outbox = Outbox(path, clock_ns=lambda: T0)
    await outbox.start()
    try:
        await outbox.append([event("f0", T0 - 20), event("f1", T0 - 10), event("d0", T0 - 5)])
        first = await outbox.next_batch(10, 1 << 20)
        await outbox.settle(first[:2], [Rejection(first[2], "partial write: bad d0", 400)])
        await outbox.append([event(f"p{i}", T0 + i, identity="web") for i in range(4)])
        await outbox.append([event("b0", T0 + 100, empty=""), event("b1", T0 + 101, a="x\\")])
        await outbox.append([event("s1", T0, identity="web")])
    finally:
        await outbox.stop()


if __name__ == "__main__":
    target = Path(sys.argv[1]) / "outbox-step2.sqlite3"
    target.unlink(missing_ok=True)
    asyncio.run(write(target))
    print(target)
