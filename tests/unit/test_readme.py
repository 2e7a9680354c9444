"""README.rst stays true to the code: every setting is in its configuration table."""

from __future__ import annotations

import re
from pathlib import Path

from stats_service.settings import setting_docs

README = Path(__file__).resolve().parents[2] / "README.rst"


def test_configuration_table_lists_every_setting_with_its_default() -> None:
    text = README.read_text(encoding="utf-8")
    table = text[text.index(".. settings-table-start") : text.index(".. settings-table-end")]
    documented = re.findall(r"\* - ``(STATS_[A-Z0-9_]+)``", table)
    expected = [name for name, _default, _doc in setting_docs()]
    assert documented == expected
    for name, default, _doc in setting_docs():
        row = table[table.index(f"``{name}``") :].split("   * - ", 1)[0]
        shown = f"``{default}``" if default not in ("", "()", "None") else "(empty)"
        assert shown in row, f"{name}: README shows a different default than {default!r}"


def test_quick_start_shows_the_two_commands_first() -> None:
    text = README.read_text(encoding="utf-8")
    quick = text[text.index("Quick start") :]
    commands = re.findall(r"^    (make \w+)", quick, re.MULTILINE)
    assert commands[:2] == ["make run", "make test"]


def test_readme_is_valid_restructuredtext() -> None:
    from docutils.core import publish_doctree  # noqa: PLC0415 - only this test needs docutils
    from docutils.utils import Reporter  # noqa: PLC0415

    messages: list[str] = []
    publish_doctree(
        README.read_text(encoding="utf-8"),
        settings_overrides={
            "report_level": Reporter.WARNING_LEVEL,
            "halt_level": Reporter.SEVERE_LEVEL + 1,
            "warning_stream": _Collect(messages),
        },
    )
    assert messages == []


class _Collect:
    def __init__(self, sink: list[str]) -> None:
        self.sink = sink

    def write(self, text: str) -> None:
        if text.strip():
            self.sink.append(text)


def test_benchmark_table_is_the_latest_run() -> None:
    text = README.read_text(encoding="utf-8")
    shown = text[text.index(".. bench-table-start") : text.index(".. bench-table-end")]
    latest = (README.parent / "benchmarks" / "results" / "latest.rst").read_text(encoding="utf-8")
    rows = [line.strip() for line in latest.splitlines() if line.strip()]
    assert rows
    for row in rows:
        assert row in shown, f"README shows an older benchmark table (missing {row!r})"
