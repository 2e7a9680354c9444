"""Extraction: verified packages back into dataframes.

:func:`extract` verifies each package against its manifest (see
:mod:`stats_service.export.verify`), then loads the CSV members of each
collector into one dataframe (all packages, in order) and the JSON members
into documents. ``collectors`` picks a subset by collector name; the others
are still verified but not loaded. The frames are raw, ready for a rollup's
:meth:`~stats_service.export.rollup.Rollup.add_csv`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from stats_service.export.collect import EVENT_COLUMNS
from stats_service.export.errors import PackageCorrupt
from stats_service.export.package import CONFIG_MEMBER, STATUS_MEMBER
from stats_service.export.storage.base import Storage
from stats_service.export.verify import verify_package

__all__ = ["Extracted", "extract", "extract_from_storage", "read_events_csv"]

_STRING_COLUMNS = {c: "str" for c in EVENT_COLUMNS if c != "time_ns"}


@dataclass(slots=True)
class Extracted:
    """What a set of packages held."""

    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    """CSV members by collector name (``events``), concatenated over packages; an
    ``events`` collector that found nothing gives an empty frame with its columns."""
    documents: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """JSON members by collector name (``event_counts``), one per member."""
    status: pd.DataFrame | None = None
    """Every package's ``data_collection_status.csv`` rows."""
    config: dict[str, Any] | None = None
    """The ``config.json`` of the first package."""
    manifests: list[dict[str, Any]] = field(default_factory=list)


def read_events_csv(path: Path) -> pd.DataFrame:
    """One ``events`` CSV member with its column types; ``time`` becomes UTC datetimes."""
    frame = pd.read_csv(path, dtype={**_STRING_COLUMNS, "time_ns": "int64"}, keep_default_na=False)
    missing = [c for c in EVENT_COLUMNS if c not in frame.columns]
    if missing:
        raise PackageCorrupt(f"{path.name} lacks the column(s) {', '.join(missing)}")
    frame["time"] = pd.to_datetime(frame["time_ns"], unit="ns", utc=True)
    return frame


def _empty_events() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series([], dtype=t) for c, t in _STRING_COLUMNS.items()})
    frame["time_ns"] = pd.Series([], dtype="int64")
    frame = frame[list(EVENT_COLUMNS)]
    frame["time"] = pd.to_datetime(frame["time_ns"], unit="ns", utc=True)
    return frame


def extract(
    packages: Iterable[Path],
    *,
    collectors: Collection[str] | None = None,
    work_dir: Path | None = None,
) -> Extracted:
    """Verify ``packages`` and load their members (only ``collectors``' when given)."""
    result = Extracted()
    csv_parts: dict[str, list[pd.DataFrame]] = {}
    status_parts: list[pd.DataFrame] = []
    with tempfile.TemporaryDirectory(prefix="stats-extract-", dir=work_dir) as temp:
        for number, source in enumerate(packages):
            into = Path(temp) / f"{number:06d}"
            into.mkdir()
            unpacked = verify_package(Path(source), into)
            result.manifests.append(unpacked.manifest)
            if result.config is None:
                result.config = orjson.loads(unpacked.files[CONFIG_MEMBER].read_bytes())
            status_parts.append(
                pd.read_csv(unpacked.files[STATUS_MEMBER], dtype="str", keep_default_na=False)
            )
            for member in unpacked.manifest["members"]:
                owner = member["collector"]
                if owner in ("config", "package"):
                    continue
                if collectors is not None and owner not in collectors:
                    continue
                path = unpacked.files[member["name"]]
                if member["name"].endswith(".csv"):
                    csv_parts.setdefault(owner, []).append(read_events_csv(path))
                elif member["name"].endswith(".json"):
                    result.documents.setdefault(owner, []).append(orjson.loads(path.read_bytes()))
    for owner, parts in csv_parts.items():
        result.frames[owner] = pd.concat(parts, ignore_index=True)
    listed = {c["name"] for m in result.manifests for c in m.get("collectors", [])}
    wanted = collectors is None or "events" in collectors
    if wanted and "events" in listed and "events" not in result.frames:
        result.frames["events"] = _empty_events()
    if status_parts:
        result.status = pd.concat(status_parts, ignore_index=True)
    return result


def extract_from_storage(
    storage: Storage,
    names: Iterable[str],
    *,
    collectors: Collection[str] | None = None,
) -> Extracted:
    """:func:`extract` of packages fetched from ``storage`` (each copy removed after)."""
    with tempfile.TemporaryDirectory(prefix="stats-fetch-") as temp:
        local: list[Path] = []
        for name in names:
            with storage.get(name) as copy:
                target = Path(temp) / f"{len(local):06d}-{copy.name}"
                shutil.move(copy, target)
                local.append(target)
        return extract(local, collectors=collectors)
