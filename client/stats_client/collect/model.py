"""What a poll produces: metric definitions and one reading of each metric.

A :class:`Reading` is immutable; the snapshot, the delta tracker and the
event shipper all read the same object, so a Prometheus scrape never sees
half a poll. Counters and gauges carry one value per label set; summaries
and histograms carry the observations of the latest answer per label set.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from stats_client.collect.errors import DuplicateLabelsError, PollError, Reason

__all__ = [
    "LABEL_NAME_RE",
    "METRIC_NAME_RE",
    "METRIC_TYPES",
    "RESERVED_LABELS",
    "SOURCE_NAME_RE",
    "LabelValues",
    "MetricDef",
    "MetricType",
    "Reading",
    "ReadingBuilder",
    "check_label_name",
    "check_metric_name",
    "label_value",
    "reading_from_result",
    "to_number",
]

MetricType = Literal["counter", "gauge", "summary", "histogram"]
METRIC_TYPES: tuple[str, ...] = get_args(MetricType)
LabelValues = tuple[str, ...]
"""Label values in the order of ``MetricDef.label_names``."""

SOURCE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
METRIC_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")
LABEL_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")
"""Valid both as a Prometheus label and as a stats-service tag key."""
RESERVED_LABELS = frozenset(
    {"time", "event_id", "measurement", "identity", "value", "total", "count", "sum", "le"}
    | {"quantile", "source", "uid", "event", "tags"}
)
"""Names the exposition or the event model already uses."""


def check_metric_name(name: object) -> str | None:
    """Why ``name`` cannot be a metric, or None when it can."""
    if not isinstance(name, str) or not METRIC_NAME_RE.match(name):
        return "a metric name must match [A-Za-z][A-Za-z0-9_]{0,127}"
    if name.startswith("collector_"):
        return "names starting with collector_ are the runner's own metrics"
    return None


def check_label_name(name: object) -> str | None:
    """Why ``name`` cannot be a label, or None when it can."""
    if not isinstance(name, str) or not LABEL_NAME_RE.match(name):
        return "a label name must match [A-Za-z][A-Za-z0-9_]{0,127}"
    if name in RESERVED_LABELS:
        return f"{name!r} is a reserved label name"
    return None


@dataclass(frozen=True, slots=True)
class MetricDef:
    """One metric of one source, as published under ``name``."""

    name: str
    type: MetricType
    help: str
    label_names: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None
    delta: bool = False

    @property
    def is_distribution(self) -> bool:
        """Summaries and histograms hold observations rather than one value."""
        return self.type in ("summary", "histogram")


@dataclass(frozen=True, slots=True)
class Reading:
    """One metric's values in one poll."""

    metric: MetricDef
    samples: Mapping[LabelValues, float] = field(default_factory=dict)
    observations: Mapping[LabelValues, tuple[float, ...]] = field(default_factory=dict)

    def labels(self, values: LabelValues) -> dict[str, str]:
        """The label set of ``values`` as a dict."""
        return dict(zip(self.metric.label_names, values, strict=True))

    def series(self) -> int:
        """How many label sets this reading holds."""
        return len(self.samples) + len(self.observations)


def to_number(value: Any) -> float:
    """A finite number from an int, float, bool or numeric string; PollError otherwise."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise PollError(Reason.NOT_NUMERIC, f"{value[:40]!r} is not a number") from None
    else:
        raise PollError(Reason.NOT_NUMERIC, f"a {type(value).__name__} is not a number")
    if not math.isfinite(number):
        raise PollError(Reason.NOT_NUMERIC, f"{value!r} is not a finite number")
    return number


def label_value(value: Any, name: str) -> str:
    """A label value from a scalar; PollError(missing_label) for null, objects and lists."""
    if value is None or isinstance(value, dict | list):
        raise PollError(Reason.MISSING_LABEL, f"label {name!r} has no scalar value")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ReadingBuilder:
    """Collects the label sets of one metric, refusing duplicates of one-value kinds."""

    def __init__(self, source: str, metric: MetricDef) -> None:
        self.source = source
        self.metric = metric
        self._samples: dict[LabelValues, float] = {}
        self._observations: dict[LabelValues, list[float]] = {}

    def add(self, labels: LabelValues, values: Sequence[float]) -> None:
        """Record ``values`` for ``labels`` (one value unless the metric is a distribution)."""
        if self.metric.is_distribution:
            self._observations.setdefault(labels, []).extend(values)
            return
        if labels in self._samples or len(values) != 1:
            raise DuplicateLabelsError(
                self.source,
                self.metric.name,
                dict(zip(self.metric.label_names, labels, strict=True)),
            )
        self._samples[labels] = values[0]

    def build(self) -> Reading:
        """The finished reading."""
        return Reading(
            self.metric,
            samples=dict(self._samples),
            observations={k: tuple(v) for k, v in self._observations.items()},
        )


def _numbers(value: Any) -> list[float]:
    if isinstance(value, list):
        return [to_number(item) for item in value]
    return [to_number(value)]


def reading_from_result(source: str, metric: MetricDef, result: Any) -> Reading:
    """The reading of what a Python metric returned.

    A number (or, for summaries and histograms, a list of numbers) when the
    metric has no labels; otherwise a list of dicts with every label and a
    ``metric_value``. A duplicate label set raises DuplicateLabelsError.
    """
    builder = ReadingBuilder(source, metric)
    if not metric.label_names:
        if isinstance(result, list) and not metric.is_distribution:
            raise PollError(
                Reason.BAD_RESULT, f"{metric.name}: a metric without labels returns a number"
            )
        builder.add((), _numbers(result))
        return builder.build()
    if not isinstance(result, Iterable) or isinstance(result, str | bytes | Mapping):
        raise PollError(
            Reason.BAD_RESULT, f"{metric.name}: a labeled metric returns a list of dicts"
        )
    for row in result:
        if not isinstance(row, Mapping):
            raise PollError(Reason.BAD_RESULT, f"{metric.name}: every item must be a dict")
        labels = []
        for name in metric.label_names:
            if name not in row:
                raise PollError(
                    Reason.MISSING_LABEL, f"{metric.name}: an item lacks label {name!r}"
                )
            labels.append(label_value(row[name], name))
        if "metric_value" not in row:
            raise PollError(Reason.BAD_RESULT, f"{metric.name}: an item lacks 'metric_value'")
        builder.add(tuple(labels), _numbers(row["metric_value"]))
    return builder.build()
