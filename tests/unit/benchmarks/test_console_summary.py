"""The console summary benchmark runs end to end on a small store and prints its ratio."""

from __future__ import annotations

import pytest

from benchmarks.console_summary import main


def test_it_prints_both_medians_and_the_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--events", "50", "--rounds", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("one 100-event page (baseline):")
    assert lines[1].startswith("summary of 50 events:")
    assert lines[2].startswith("ratio summary / page:")
    assert lines[2].endswith("x")
