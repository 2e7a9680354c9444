"""Evaluate a monitor's conditions against one response. Pure functions.

JSONPath here is the common subset ``$``, ``.name``, ``['name']`` and ``[index]``
(no wildcards, filters or recursion), which is what uptime checks use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from stats_service.monitors.model import DEFAULT_STATUS_RANGE, ConditionFailure, Conditions

__all__ = ["Observed", "evaluate", "json_path_get"]

_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]")
_MISSING = object()


@dataclass(frozen=True, slots=True)
class Observed:
    """What one check saw: status, latency, the (capped) body, days of TLS validity left."""

    status_code: int
    latency_ms: float
    body: bytes | None
    cert_days_left: float | None


def evaluate(conditions: Conditions, observed: Observed) -> list[ConditionFailure]:
    """Every condition that does not hold, with a message saying what was seen."""
    failures: list[ConditionFailure] = []
    status = observed.status_code
    if conditions.status_in is not None and status not in conditions.status_in:
        failures.append(
            ConditionFailure(
                condition="status_in",
                message=f"status {status} is not one of {sorted(conditions.status_in)}",
            )
        )
    low, high = conditions.status_range or (
        DEFAULT_STATUS_RANGE if conditions.status_in is None else (100, 599)
    )
    if not low <= status <= high:
        failures.append(
            ConditionFailure(
                condition="status_range", message=f"status {status} is outside {low}-{high}"
            )
        )
    if conditions.max_response_ms is not None and observed.latency_ms > conditions.max_response_ms:
        failures.append(
            ConditionFailure(
                condition="max_response_ms",
                message=(
                    f"response took {observed.latency_ms:.1f} ms, "
                    f"more than {conditions.max_response_ms:g} ms"
                ),
            )
        )
    if conditions.min_cert_days is not None:
        failures.extend(_certificate(conditions.min_cert_days, observed.cert_days_left))
    if conditions.body_contains is not None:
        needle = conditions.body_contains.encode()
        if observed.body is None or needle not in observed.body:
            failures.append(
                ConditionFailure(
                    condition="body_contains",
                    message=f"the body does not contain {conditions.body_contains[:64]!r}",
                )
            )
    if conditions.json_path is not None:
        failure = _json_path(conditions.json_path.path, conditions.json_path.equals, observed.body)
        if failure is not None:
            failures.append(failure)
    return failures


def _certificate(min_days: float, days_left: float | None) -> list[ConditionFailure]:
    if days_left is None:
        return [
            ConditionFailure(
                condition="min_cert_days", message="no TLS certificate was seen (plain HTTP?)"
            )
        ]
    if days_left <= min_days:
        return [
            ConditionFailure(
                condition="min_cert_days",
                message=(
                    f"the certificate expires in {days_left:.1f} days, not more than {min_days:g}"
                ),
            )
        ]
    return []


def _json_path(path: str, expected: Any, body: bytes | None) -> ConditionFailure | None:
    try:
        document = orjson.loads(body or b"")
    except orjson.JSONDecodeError:
        return ConditionFailure(condition="json_path", message="the body is not JSON")
    try:
        found = json_path_get(document, path)
    except ValueError as exc:
        return ConditionFailure(condition="json_path", message=str(exc))
    if found is _MISSING:
        return ConditionFailure(condition="json_path", message=f"{path} is not in the body")
    if found != expected or isinstance(found, bool) != isinstance(expected, bool):
        shown = orjson.dumps(found).decode()[:64]
        return ConditionFailure(
            condition="json_path",
            message=f"{path} is {shown}, expected {orjson.dumps(expected).decode()[:64]}",
        )
    return None


def json_path_get(document: Any, path: str) -> Any:
    """The value at ``path`` in ``document``; a sentinel (not ``None``) when absent.

    ``ValueError`` when ``path`` is not in the supported subset.
    """
    if not path.startswith("$"):
        raise ValueError(f"JSONPath {path!r} must start with $")
    position, value = 1, document
    while position < len(path):
        step = _STEP.match(path, position)
        if step is None:
            raise ValueError(f"JSONPath {path!r}: cannot read from position {position}")
        position = step.end()
        name, index, quoted = step.groups()
        if index is not None:
            if not isinstance(value, list) or int(index) >= len(value):
                return _MISSING
            value = value[int(index)]
            continue
        key = name if name is not None else re.sub(r"\\(.)", r"\1", quoted)
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value
