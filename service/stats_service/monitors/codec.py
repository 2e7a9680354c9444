"""Rows to objects and back, shared by the SQL stores (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import orjson

from stats_service.monitors.aggregator import Rollup
from stats_service.monitors.histogram import LatencyHistogram
from stats_service.monitors.model import CheckResult, ConditionFailure, Monitor, MonitorSpec, Reason

__all__ = [
    "RESULT_COLUMNS",
    "ROLLUP_COLUMNS",
    "Row",
    "monitor_from_row",
    "monitor_row",
    "result_from_row",
    "result_row",
    "rollup_from_row",
    "rollup_row",
]

Row = tuple[Any, ...] | list[Any]
"""One database row as the drivers return it."""

RESULT_COLUMNS = (
    "id",
    "monitor_id",
    "time_us",
    "ok",
    "status_code",
    "latency_us",
    "reason",
    "message",
    "failures",
    "cert_expires_at",
)
ROLLUP_COLUMNS = (
    "monitor_id",
    "granularity",
    "start",
    "count",
    "ok_count",
    "rt_count",
    "rt_min_us",
    "rt_max_us",
    "rt_sum_us",
    "histogram",
    "status_counts",
    "error_counts",
)


def monitor_row(monitor: Monitor) -> tuple[Any, ...]:
    """``(id, name, spec JSON, paused, created_at, updated_at)``."""
    return (
        monitor.id,
        monitor.name,
        orjson.dumps(monitor.spec.model_dump(mode="json")).decode(),
        bool(monitor.paused),
        monitor.created_at,
        monitor.updated_at,
    )


def monitor_from_row(row: Row) -> Monitor:
    """The inverse of :func:`monitor_row`."""
    return Monitor(
        id=row[0],
        spec=MonitorSpec.model_validate(orjson.loads(row[2])),
        paused=bool(row[3]),
        created_at=float(row[4]),
        updated_at=float(row[5]),
    )


def result_row(result: CheckResult) -> tuple[Any, ...]:
    """One result in ``RESULT_COLUMNS`` order; failures as JSON (``None`` when there are none)."""
    return (
        result.id,
        result.monitor_id,
        round(result.time * 1_000_000),
        bool(result.ok),
        result.status_code,
        result.latency_us,
        None if result.reason is None else result.reason.value,
        result.message,
        orjson.dumps([f.model_dump() for f in result.failures]).decode()
        if result.failures
        else None,
        result.cert_expires_at,
    )


def result_from_row(row: Row) -> CheckResult:
    """The inverse of :func:`result_row`."""
    return CheckResult(
        id=row[0],
        monitor_id=row[1],
        time=row[2] / 1_000_000,
        ok=bool(row[3]),
        status_code=row[4],
        latency_us=row[5],
        reason=None if row[6] is None else Reason(row[6]),
        message=row[7],
        failures=[ConditionFailure(**f) for f in orjson.loads(row[8])] if row[8] else [],
        cert_expires_at=row[9],
    )


def rollup_row(row: Rollup) -> tuple[Any, ...]:
    """One rollup in ``ROLLUP_COLUMNS`` order, its dicts as JSON text."""
    return (
        row.monitor_id,
        row.granularity,
        row.start,
        row.count,
        row.ok_count,
        row.rt_count,
        row.rt_min_us,
        row.rt_max_us,
        row.rt_sum_us,
        row.histogram.to_bytes(),
        orjson.dumps(row.status_counts).decode(),
        orjson.dumps(row.error_counts).decode(),
    )


def rollup_from_row(values: Row) -> Rollup:
    """The inverse of :func:`rollup_row`."""
    return Rollup(
        monitor_id=values[0],
        granularity=values[1],
        start=int(values[2]),
        count=int(values[3]),
        ok_count=int(values[4]),
        rt_count=int(values[5]),
        rt_min_us=values[6],
        rt_max_us=values[7],
        rt_sum_us=int(values[8]),
        histogram=LatencyHistogram.from_bytes(bytes(values[9])),
        status_counts={str(k): int(v) for k, v in orjson.loads(values[10]).items()},
        error_counts={str(k): int(v) for k, v in orjson.loads(values[11]).items()},
    )
