"""Reports: rollups as a spreadsheet for people, and as CSV and JSON for programs.

:func:`write_xlsx` makes one workbook: a ``Summary`` sheet (title, window,
generation time, rows and total count of each rollup), one sheet per rollup
(a header with the window, typed cells with number formats, sized columns, a
frozen header row and a filter), and, when a rollup has ``day`` and
``count``, a ``Daily`` sheet of counts per day with a bar chart on its own
chart sheet. Times are written in UTC (spreadsheets have no time zones).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from stats_service.export.rollup import Rollup
from stats_service.export.window import Window, iso

__all__ = ["write_csv", "write_json", "write_xlsx"]

_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=14)
_MAX_WIDTH = 60
_HEADER_ROW = 4
_DATE_FORMAT = "yyyy-mm-dd"
_TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"


def write_csv(rollup: Rollup, path: Path) -> Path:
    """The rollup's frame as CSV."""
    return rollup.to_csv(path)


def write_json(rollup: Rollup, path: Path) -> Path:
    """The rollup's frame as a JSON list of records."""
    return rollup.to_json(path)


def _cell_value(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        if value is pd.NaT:
            return None
        stamp = value.tz_convert("UTC").tz_localize(None) if value.tzinfo else value
        return stamp.floor("us").to_pydatetime()  # spreadsheets hold no nanoseconds
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _number_format(dtype: Any, column: str) -> str | None:
    text = str(dtype)
    if text.startswith("datetime64"):
        return _DATE_FORMAT if column == "day" else _TIME_FORMAT
    if text.startswith(("int", "Int")):
        return "#,##0"
    if text.startswith(("float", "Float")):
        return "#,##0.00"
    return None


def _table(sheet: Worksheet, frame: pd.DataFrame, first_row: int) -> None:
    flat = frame.reset_index() if set(frame.index.names) - {None} else frame
    columns = list(flat.columns)
    widths = [len(str(c)) for c in columns]
    formats = [_number_format(flat[c].dtype, str(c)) for c in columns]
    for col, name in enumerate(columns, start=1):
        sheet.cell(row=first_row, column=col, value=str(name)).font = _BOLD
    for row_number, row in enumerate(flat.itertuples(index=False), start=first_row + 1):
        for col, raw in enumerate(row, start=1):
            value = _cell_value(raw)
            cell = sheet.cell(row=row_number, column=col, value=value)
            fmt = formats[col - 1]
            if value is None:
                shown = 0
            elif fmt is not None:
                cell.number_format = fmt
                shown = len(fmt) if isinstance(value, dt.datetime) else len(f"{value:,}")
            else:
                shown = len(str(value)) if value is not None else 0
            widths[col - 1] = max(widths[col - 1], shown)
    for col, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(col)].width = min(width + 2, _MAX_WIDTH)
    sheet.freeze_panes = sheet.cell(row=first_row + 1, column=1)
    last = first_row + len(flat)
    sheet.auto_filter.ref = f"A{first_row}:{get_column_letter(len(columns))}{max(last, first_row)}"


def _header(sheet: Worksheet, title: str, window_label: str) -> None:
    sheet.cell(row=1, column=1, value=title).font = _TITLE
    sheet.cell(row=2, column=1, value=f"Window (UTC, until excluded): {window_label}")


def _daily(rollups: Sequence[Rollup]) -> pd.DataFrame | None:
    for rollup in rollups:
        flat = rollup.frame.reset_index()
        if "day" in flat.columns and "count" in flat.columns:
            daily = flat.groupby("day", sort=True)["count"].sum().reset_index()
            return daily.astype({"count": "int64"})
    return None


def write_xlsx(
    path: Path,
    rollups: Sequence[Rollup],
    *,
    window: Window | None,
    generated_at: dt.datetime,
    title: str = "stats-service export",
) -> Path:
    """The workbook described above, written to ``path``."""
    window_label = window.label() if window is not None else "(several windows)"
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "Summary"
    _header(summary, title, window_label)
    summary.cell(row=3, column=1, value=f"Generated: {iso(generated_at)}")
    rows = [
        {
            "rollup": r.name,
            "rows": len(r.frame),
            "total_count": int(r.frame["count"].sum()) if "count" in r.frame.columns else None,
        }
        for r in rollups
    ]
    summary_frame = pd.DataFrame(rows, columns=["rollup", "rows", "total_count"])
    _table(summary, summary_frame.astype({"rows": "int64"}), _HEADER_ROW + 1)
    for rollup in rollups:
        sheet = book.create_sheet(rollup.name[:31])
        _header(sheet, rollup.name, window_label)
        _table(sheet, rollup.frame, _HEADER_ROW)
    daily = _daily(rollups)
    if daily is not None:
        sheet = book.create_sheet("Daily")
        _header(sheet, "Events per day", window_label)
        _table(sheet, daily, _HEADER_ROW)
        chart = BarChart()
        chart.title = "Events per day (UTC)"
        chart.y_axis.title = "events"
        chart.x_axis.title = "day"
        chart.x_axis.number_format = _DATE_FORMAT
        last = _HEADER_ROW + max(len(daily), 1)
        chart.add_data(
            Reference(sheet, min_col=2, min_row=_HEADER_ROW, max_row=last), titles_from_data=True
        )
        chart.set_categories(Reference(sheet, min_col=1, min_row=_HEADER_ROW + 1, max_row=last))
        book.create_chartsheet("Chart").add_chart(chart)
    book.save(path)
    return path
