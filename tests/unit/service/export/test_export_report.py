"""The XLSX report: summary, a sheet per rollup, typed cells, widths, a daily chart."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from openpyxl import load_workbook

from stats_service.export.report import write_xlsx
from stats_service.export.rollup import EventsDaily
from stats_service.export.window import Window

NS = 10**9
T0 = 1_793_491_200 * NS


def _rollup(rows):
    rollup = EventsDaily()
    rollup.add_csv(pd.DataFrame(rows, columns=["time_ns", "event", "identity"]))
    rollup.group()
    return rollup


def test_the_workbook_has_summary_rollup_daily_and_chart(tmp_path):
    day = 86_400 * NS
    rollup = _rollup(
        [(T0 + 1, "open", "web"), (T0 + 2, "open", "web"), (T0 + day, "close", "a-long-identity")]
    )
    window = Window(
        dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.datetime(2026, 11, 3, tzinfo=dt.UTC)
    )
    path = write_xlsx(
        tmp_path / "r.xlsx",
        [rollup],
        window=window,
        generated_at=dt.datetime(2026, 12, 1, 6, tzinfo=dt.UTC),
    )
    book = load_workbook(path)
    assert book.sheetnames == ["Summary", "events_daily", "Daily", "Chart"]
    summary = book["Summary"]
    assert "2026-11-01T00:00:00Z, 2026-11-03T00:00:00Z" in summary["A2"].value
    assert summary["A3"].value == "Generated: 2026-12-01T06:00:00Z"
    assert [c.value for c in summary[5]] == ["rollup", "rows", "total_count"]
    assert [c.value for c in summary[6]] == ["events_daily", 2, 3]

    sheet = book["events_daily"]
    assert sheet["A1"].value == "events_daily"
    assert "2026-11-01T00:00:00Z" in sheet["A2"].value
    header = [c.value for c in sheet[4]]
    assert header == ["day", "event", "identity", "count", "first_seen", "last_seen"]
    first = list(sheet[5])
    assert isinstance(first[0].value, dt.datetime)
    assert first[0].number_format == "yyyy-mm-dd"
    assert isinstance(first[3].value, int)
    assert first[3].number_format == "#,##0"
    assert first[4].number_format == "yyyy-mm-dd hh:mm:ss"
    assert sheet.freeze_panes == "A5"
    assert sheet.column_dimensions["C"].width >= len("a-long-identity")
    counts = {(r[1].value, r[2].value): r[3].value for r in sheet.iter_rows(min_row=5)}
    assert counts == {("open", "web"): 2, ("close", "a-long-identity"): 1}

    daily = book["Daily"]
    assert [(r[0].value.date().isoformat(), r[1].value) for r in daily.iter_rows(min_row=5)] == [
        ("2026-11-01", 2),
        ("2026-11-02", 1),
    ]
    assert len(book["Chart"]._charts) == 1


def test_an_empty_rollup_still_makes_a_workbook(tmp_path):
    window = Window(
        dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    )
    empty = EventsDaily()
    empty.group()
    book = load_workbook(
        write_xlsx(tmp_path / "e.xlsx", [empty], window=window, generated_at=window.until)
    )
    assert [c.value for c in book["Summary"][6]] == ["events_daily", 0, 0]
    assert [c.value for c in book["events_daily"][4]][:3] == ["day", "event", "identity"]
