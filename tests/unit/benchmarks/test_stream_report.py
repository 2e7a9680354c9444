"""The stream benchmark's figures reach the results table."""

from __future__ import annotations

from benchmarks.__main__ import SECTIONS
from benchmarks.report import render_table


def test_the_stream_figures_are_in_the_table() -> None:
    doc = {
        "stream": {
            "latency_ms_p50": 70.4,
            "latency_ms_p99": 153.7,
            "ingest_events_per_s_no_subscribers": 15355,
            "ingest_events_per_s_with_subscribers": 5673,
            "ingest_ratio": 0.369,
        }
    }
    table = render_table(doc)
    assert "stream" in SECTIONS
    rows = {
        label: next(row for row in table.splitlines() if label in row)
        for label in ("post to receive at 1,000 events/s p99", "ingest, 50 subscribers")
    }
    assert "153.7" in rows["post to receive at 1,000 events/s p99"]
    assert "5673" in rows["ingest, 50 subscribers"].replace(",", "")
