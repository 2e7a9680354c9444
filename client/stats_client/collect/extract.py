"""JSONPath extraction of a declarative metric from one upstream answer (jsonpath-ng).

``path`` points at the value, at one object, at a list of items, or (with a
wildcard) at several items. For each item, ``value`` is a path inside it
(absent: the item is the value) and each label's path is relative to the
item. A label path starting with ``^`` is read in the object that encloses
the item (``^^`` two objects up, and so on), so ``^.name`` takes a team's
name for each of its stacks; a path starting with ``$`` reads from the root.

An item with a missing label or a non-numeric value is skipped and counted;
a ``path`` that matches nothing, or a duplicate label set, fails the metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from jsonpath_ng import DatumInContext, Fields, JSONPath
from jsonpath_ng.ext.parser import parse

from stats_client.collect.errors import PollError, Reason
from stats_client.collect.model import MetricDef, Reading, ReadingBuilder, label_value, to_number

__all__ = ["LabelPath", "MetricExtraction", "compile_label_path", "compile_path", "extract"]


def compile_path(text: str) -> JSONPath:
    """The compiled JSONPath; ValueError with the parser's complaint when it is not one."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a JSONPath must be a non-empty string")
    try:
        return parse(text)
    except Exception as exc:  # noqa: BLE001 - jsonpath-ng raises plain Exception subclasses
        raise ValueError(f"not a JSONPath: {exc}") from None


def _plain_key(expr: JSONPath | None) -> str | None:
    """The field name when ``expr`` is just one plain field (read with a dict lookup)."""
    if isinstance(expr, Fields) and len(expr.fields) == 1 and expr.fields[0] != "*":
        return str(expr.fields[0])
    return None


@dataclass(frozen=True, slots=True)
class LabelPath:
    """Where one label's value is: ``up`` enclosing objects above the item, then ``expr``."""

    name: str
    up: int
    expr: JSONPath | None
    key: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", _plain_key(self.expr))


def compile_label_path(name: str, text: str) -> LabelPath:
    """Compile a label path (``^`` prefixes climb to enclosing objects)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a label path must be a non-empty string")
    rest = text.strip()
    up = len(rest) - len(rest.lstrip("^"))
    rest = rest[up:].lstrip(".")
    return LabelPath(name, up, compile_path(rest) if rest else None)


@dataclass(frozen=True, slots=True)
class MetricExtraction:
    """A declarative metric: what to publish and where its values are."""

    metric: MetricDef
    path: JSONPath
    labels: tuple[LabelPath, ...] = ()
    value: JSONPath | None = None
    value_key: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "value_key", _plain_key(self.value))


def _enclosing(datum: DatumInContext, up: int) -> DatumInContext | None:
    current: DatumInContext | None = datum
    for _ in range(up):
        assert current is not None
        current = current.context
        while current is not None and not isinstance(current.value, dict):
            current = current.context
        if current is None:
            return None
    return current


def _one(expr: JSONPath | None, datum: DatumInContext, key: str | None = None) -> Any:
    if key is not None:
        value = datum.value
        if isinstance(value, dict) and key in value:
            return value[key]
        raise LookupError
    if expr is None:
        return datum.value
    found = expr.find(datum)
    if not found:
        raise LookupError
    return found[0].value


def _items(spec: MetricExtraction, data: Any) -> list[DatumInContext]:
    found = spec.path.find(data)
    if not found:
        raise PollError(Reason.NO_MATCH, f"{spec.metric.name}: path {spec.path} matched nothing")
    items: list[DatumInContext] = []
    for match in found:
        if isinstance(match.value, list):
            items.extend(DatumInContext(value, context=match) for value in match.value)
        else:
            items.append(match)
    return items


def _label(label: LabelPath, item: DatumInContext, metric: str) -> str:
    base = _enclosing(item, label.up)
    missing = PollError(
        Reason.MISSING_LABEL, f"{metric}: label {label.name!r} matched nothing in an item"
    )
    if base is None:
        raise missing
    try:
        return label_value(_one(label.expr, base, label.key), label.name)
    except LookupError:
        raise missing from None


def _values(spec: MetricExtraction, item: DatumInContext) -> Sequence[float]:
    try:
        raw = _one(spec.value, item, spec.value_key)
    except LookupError:
        raise PollError(
            Reason.NO_MATCH, f"{spec.metric.name}: value {spec.value} matched nothing in an item"
        ) from None
    if isinstance(raw, list) and spec.metric.is_distribution:
        return [to_number(x) for x in raw]
    return [to_number(raw)]


def extract(source: str, spec: MetricExtraction, data: Any) -> tuple[Reading, list[PollError]]:
    """The metric's reading in ``data`` and the errors of the items it skipped.

    Raises PollError when ``path`` matches nothing, DuplicateLabelsError when
    two items share a label set of a counter or gauge.
    """
    builder = ReadingBuilder(source, spec.metric)
    skipped: list[PollError] = []
    for item in _items(spec, data):
        try:
            labels = tuple(_label(label, item, spec.metric.name) for label in spec.labels)
            values = _values(spec, item)
        except PollError as exc:
            skipped.append(exc)
            continue
        builder.add(labels, values)
    return builder.build(), skipped
