"""Rollups: named dataframes that aggregate raw rows and merge exactly.

A :class:`Rollup` declares its index and its measures, each with a dtype and
an aggregation, so its frame has the right columns and types even when empty.
``add_csv`` takes raw frames (from :mod:`stats_service.export.extract`) and
``group()`` aggregates them; ``to_parquet`` stores the result; ``add_parquet``
takes stored rollups (of several windows) and ``regroup()`` merges them
exactly: ``sum`` measures add, ``min``/``max`` combine and ``mean`` measures
are re-weighted by their weight column, so regrouping the rollups of November
and December gives what grouping both months' raw rows at once would.

:class:`EventsDaily` is the built-in one: events per ``(day, event,
identity)`` with their count and the first and last time seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import pandas as pd

from stats_service.export.errors import ExportError

__all__ = ["EventsDaily", "Measure", "Rollup"]

Aggregation = Literal["sum", "min", "max", "mean"]


@dataclass(frozen=True, slots=True)
class Measure:
    """One aggregated column; a ``mean`` names the column that weights it."""

    name: str
    dtype: str
    how: Aggregation
    weight: str | None = None


class Rollup:
    """Base of every rollup; subclasses set the class attributes and :meth:`prepare`."""

    name: ClassVar[str]
    index: ClassVar[tuple[tuple[str, str], ...]]
    """``(column, dtype)`` of each index level."""
    measures: ClassVar[tuple[Measure, ...]]
    source: ClassVar[str] = "events"
    """The collector whose raw frames ``add_csv`` takes."""

    def __init__(self) -> None:
        self._raw: list[pd.DataFrame] = []
        self._parts: list[pd.DataFrame] = []
        self.frame: pd.DataFrame = self.empty()

    @classmethod
    def columns(cls) -> list[str]:
        """Index columns, then measure columns."""
        return [name for name, _ in cls.index] + [m.name for m in cls.measures]

    @classmethod
    def empty(cls) -> pd.DataFrame:
        """A frame with no rows but every column, type and index level."""
        data = {name: pd.Series([], dtype=dtype) for name, dtype in cls.index}
        data.update({m.name: pd.Series([], dtype=m.dtype) for m in cls.measures})
        return cls._typed(pd.DataFrame(data))

    @classmethod
    def _typed(cls, flat: pd.DataFrame) -> pd.DataFrame:
        typed = flat.astype(dict(cls.index))
        typed = typed.astype({m.name: m.dtype for m in cls.measures})
        return typed[cls.columns()].set_index([name for name, _ in cls.index])

    def prepare(self, raw: pd.DataFrame) -> pd.DataFrame:
        """Raw rows as flat rows of the index and measure columns (before aggregation)."""
        raise NotImplementedError

    def add_csv(self, raw: pd.DataFrame) -> None:
        """Queue raw rows for :meth:`group`."""
        self._raw.append(self.prepare(raw))

    def group(self) -> pd.DataFrame:
        """Aggregate every frame given to ``add_csv``; the result is also ``self.frame``."""
        self.frame = self.merge(self._raw)
        return self.frame

    def add_parquet(self, source: Path | pd.DataFrame) -> None:
        """Queue a stored rollup (a parquet file, or a frame of this rollup) for :meth:`regroup`."""
        frame = pd.read_parquet(source) if isinstance(source, Path) else source
        flat = frame.reset_index() if set(frame.index.names) - {None} else frame
        missing = [c for c in self.columns() if c not in flat.columns]
        if missing:
            raise ExportError(f"that is not a {self.name} rollup: no column(s) {missing}")
        self._parts.append(flat[self.columns()])

    def regroup(self) -> pd.DataFrame:
        """Merge every rollup given to ``add_parquet`` exactly; also ``self.frame``."""
        self.frame = self.merge(self._parts)
        return self.frame

    def merge(self, flats: Sequence[pd.DataFrame]) -> pd.DataFrame:
        """Aggregate flat rows by the index with each measure's aggregation."""
        flats = [f for f in flats if len(f)]
        if not flats:
            return self.empty()
        rows = pd.concat([f[self.columns()] for f in flats], ignore_index=True)
        keys = [name for name, _ in self.index]
        specs: dict[str, tuple[str, str]] = {}
        for measure in self.measures:
            if measure.how == "mean":
                if measure.weight is None:
                    raise ExportError(f"{self.name}.{measure.name}: a mean needs a weight")
                rows[f"__w_{measure.name}"] = rows[measure.name] * rows[measure.weight]
                specs[f"__w_{measure.name}"] = (f"__w_{measure.name}", "sum")
            else:
                specs[measure.name] = (measure.name, measure.how)
        grouped = rows.groupby(keys, sort=True, dropna=False).agg(**specs).reset_index()
        for measure in self.measures:
            if measure.how == "mean":
                assert measure.weight is not None
                grouped[measure.name] = grouped[f"__w_{measure.name}"] / grouped[measure.weight]
        return self._typed(grouped)

    def to_parquet(self, path: Path) -> Path:
        """Store ``self.frame`` (index as columns) as parquet."""
        self.frame.reset_index().to_parquet(path, index=False, engine="pyarrow")
        return path

    def to_csv(self, path: Path) -> Path:
        """``self.frame`` as CSV, times in ISO 8601."""
        self.frame.reset_index().to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
        return path

    def to_json(self, path: Path) -> Path:
        """``self.frame`` as a JSON list of records, times in ISO 8601."""
        self.frame.reset_index().to_json(
            path, orient="records", date_format="iso", date_unit="ns", indent=2
        )
        return path


class EventsDaily(Rollup):
    """Events per UTC day, event type and sender identity; count, first and last seen."""

    name = "events_daily"
    index = (("day", "datetime64[ns]"), ("event", "str"), ("identity", "str"))
    measures = (
        Measure("count", "int64", "sum"),
        Measure("first_seen", "datetime64[ns, UTC]", "min"),
        Measure("last_seen", "datetime64[ns, UTC]", "max"),
    )

    def prepare(self, raw: pd.DataFrame) -> pd.DataFrame:
        """One row per event: its day, type, identity, a count of 1 and its time twice."""
        if not len(raw):
            return self.empty().reset_index()
        time = pd.to_datetime(raw["time_ns"].astype("int64"), unit="ns", utc=True)
        return pd.DataFrame(
            {
                "day": time.dt.floor("D").dt.tz_localize(None),
                "event": raw["event"].astype("str"),
                "identity": raw["identity"].astype("str"),
                "count": 1,
                "first_seen": time,
                "last_seen": time,
            }
        )
