"""The cross-replica stream benchmark's figures reach the results table."""

from __future__ import annotations

from benchmarks.__main__ import SECTIONS, parse_config
from benchmarks.report import render_table


def test_the_kafka_stream_section_is_known_and_its_figures_are_in_the_table() -> None:
    assert "kafka_stream" in SECTIONS
    assert parse_config(["--only", "kafka_stream"], {}).sections == ("kafka_stream",)
    table = render_table(
        {
            "kafka_stream": {
                "outbox_latency_ms_p50": 69.1,
                "cross_replica_latency_ms_p50": 120.4,
                "cross_replica_latency_ms_p99": 241.2,
            }
        }
    )
    row = next(line for line in table.splitlines() if "receive on A p99" in line)
    assert "241.2" in row
