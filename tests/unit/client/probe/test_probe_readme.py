"""README's probe table lists every setting of ProbeConfig with its default."""

from __future__ import annotations

import re
from pathlib import Path

from stats_client.probe.config import field_docs

README = Path(__file__).resolve().parents[4] / "README.rst"


def test_the_probe_table_matches_the_configuration() -> None:
    text = README.read_text(encoding="utf-8")
    table = text[text.index(".. probe-table-start") : text.index(".. probe-table-end")]
    documented = re.findall(
        r"^   \* - ``(STATS_PROBE_[A-Z_]+)``\n     - (.+)$", table, re.MULTILINE
    )
    expected = [
        (env, f"``{default}``" if default else "(empty)") for env, default, _ in field_docs()
    ]
    assert documented == expected
