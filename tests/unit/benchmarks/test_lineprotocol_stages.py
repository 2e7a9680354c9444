"""The line-protocol stage profile runs every stage on a real outbox and sends what the
service would send."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

from benchmarks.lineprotocol_stages import forward_body, main, profile_stages
from stats_service.delivery.queue import OutboxEntry
from stats_service.events.model import Event
from stats_service.storage.influx.lineprotocol import encode_events

STAGES = [
    "gunzip",
    "parse_lines",
    "event_from_point",
    "outbox_append",
    "outbox_read",
    "forward_body",
    "gzip",
    "outbox_settle",
]


def test_every_stage_is_timed_per_point():
    stages = profile_stages(points=200, batch=100, repeats=1)
    assert [stage.name for stage in stages] == STAGES
    assert all(stage.cpu_us_per_point >= 0 for stage in stages)
    assert all(stage.wall_us_per_point > 0 for stage in stages)


def test_the_body_is_the_stored_lines_or_the_events_encoded():
    events = [Event(f"e{i}", "m", i + 1, {"a": "x"}, {"n": i}) for i in range(3)]
    lines = [
        OutboxEntry.of_line(i, 1, e.event_id, encode_events([e])) for i, e in enumerate(events)
    ]
    held = [OutboxEntry(i, e, 1) for i, e in enumerate(events)]
    assert forward_body(lines) == encode_events(events)
    assert forward_body(held) == encode_events(events)


def test_main_prints_one_line_per_stage_and_the_total():
    out = io.StringIO()
    with redirect_stdout(out):
        main(["--points", "100", "--batch", "50", "--repeats", "1"])
    printed = [line.split()[0] for line in out.getvalue().splitlines()]
    assert printed == ["stage", *STAGES, "total"]
