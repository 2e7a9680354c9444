"""Turns raw benchmark output into figures, ``latest.json``, a table and a chart.

Everything here is pure except :func:`draw_chart` (which writes a PNG): it
parses what the measuring tools print (the ``WRK_RESULT`` line of
``wrk/post_json.lua``, ``/proc/<pid>/stat`` and ``status`` text, py-spy's
folded stacks), computes medians, ratios and the RSS trend, checks the shape
of the results document and renders it as an reStructuredText table.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "REQUIRED_KEYS",
    "SCHEMA_VERSION",
    "TARGETS",
    "WRK_MARKER",
    "FrameCost",
    "PhaseCost",
    "ProfileSummary",
    "ResultsError",
    "RssTrend",
    "WrkOutputError",
    "WrkResult",
    "cpu_bound_ratio",
    "cpu_percent",
    "draw_chart",
    "lookup",
    "median",
    "median_ratio",
    "parse_proc_stat_cpu_ticks",
    "parse_proc_stat_ppid",
    "parse_proc_status_rss_kib",
    "parse_wrk_output",
    "percentile",
    "ratio",
    "render_table",
    "rss_trend",
    "summarise_folded_stacks",
    "validate_results",
]

SCHEMA_VERSION = 1
"""Bumped when a key of ``latest.json`` changes meaning or moves."""

WRK_MARKER = "WRK_RESULT "
"""Prefix of the one JSON line ``wrk/post_json.lua`` prints from ``done()``."""

REQUIRED_KEYS: tuple[str, ...] = (
    "single_event.events_per_s",
    "single_event.baseline_events_per_s",
    "single_event.ratio",
    "batch_ingest.points_per_s",
    "batch_ingest.baseline_points_per_s",
    "batch_ingest.ratio",
    "client.log_p99_us",
    "client.delivered_events_per_s",
    "service.max_rss_mb",
)
"""Dotted keys of ``latest.json`` that must hold finite numbers (compared across commits)."""

TARGETS: Mapping[str, tuple[str, float]] = {
    "single_event.ratio": (">=", 1.0),
    "batch_ingest.ratio": (">=", 0.3),
    "batch_ingest.lineprotocol_ratio": (">=", 0.5),
    "batch_ingest.lineprotocol_service_cpu_vs_influxd": ("<=", 2.0),
    "batch_ingest.lineprotocol_vs_telegraf": (">=", 0.8),
    "client.log_p99_us": ("<=", 50.0),
    "client.delivered_events_per_s": (">=", 20_000.0),
}
"""The targets of the performance issue, shown beside each figure in the table."""

_MIB = 1024 * 1024


class WrkOutputError(ValueError):
    """wrk's output has no well-formed ``WRK_RESULT`` line."""


class ResultsError(ValueError):
    """A results document lacks a required number or has the wrong shape."""


# --- wrk -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WrkResult:
    """One wrk run as reported by ``post_json.lua``; latencies in microseconds."""

    duration_s: float
    requests: int
    bytes_read: int
    non_2xx: int
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int
    status_errors: int
    latency_us: Mapping[str, float]

    @property
    def socket_errors(self) -> int:
        """Connect, read and write errors and timeouts."""
        return self.connect_errors + self.read_errors + self.write_errors + self.timeouts

    @property
    def errors(self) -> int:
        """Every failed request: responses outside 2xx plus socket errors."""
        return self.non_2xx + self.socket_errors

    @property
    def requests_per_s(self) -> float:
        """Completed requests (any status) per second."""
        return self.requests / self.duration_s

    @property
    def ok_per_s(self) -> float:
        """Requests answered 2xx per second."""
        return (self.requests - self.non_2xx) / self.duration_s

    def as_dict(self) -> dict[str, Any]:
        """The raw figures for ``latest.json``."""
        return {
            "duration_s": round(self.duration_s, 3),
            "requests": self.requests,
            "requests_per_s": round(self.requests_per_s, 1),
            "ok_per_s": round(self.ok_per_s, 1),
            "non_2xx": self.non_2xx,
            "socket_errors": {
                "connect": self.connect_errors,
                "read": self.read_errors,
                "write": self.write_errors,
                "timeout": self.timeouts,
            },
            "latency_us": dict(self.latency_us),
        }


_LATENCY_KEYS = ("min", "mean", "stdev", "max", "p50", "p90", "p99", "p999")
_ERROR_KEYS = ("connect", "read", "write", "status", "timeout")


def parse_wrk_output(text: str) -> WrkResult:
    """The figures in wrk's stdout (the last ``WRK_RESULT`` line wins)."""
    lines = [line for line in text.splitlines() if line.startswith(WRK_MARKER)]
    if not lines:
        raise WrkOutputError(f"no {WRK_MARKER.strip()} line in wrk output: is post_json.lua used?")
    try:
        raw = json.loads(lines[-1][len(WRK_MARKER) :])
    except json.JSONDecodeError as exc:
        raise WrkOutputError(f"{WRK_MARKER.strip()} is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise WrkOutputError(f"{WRK_MARKER.strip()} is not a JSON object")
    errors = raw.get("errors")
    latency = raw.get("latency_us")
    if not isinstance(errors, dict) or not isinstance(latency, dict):
        raise WrkOutputError(f"{WRK_MARKER.strip()} lacks 'errors' or 'latency_us'")
    duration_us = _count(raw, "duration_us")
    if duration_us <= 0:
        raise WrkOutputError("wrk reported a run of zero duration")
    return WrkResult(
        duration_s=duration_us / 1e6,
        requests=_count(raw, "requests"),
        bytes_read=_count(raw, "bytes"),
        non_2xx=_count(raw, "non_2xx"),
        connect_errors=_count(errors, "connect"),
        read_errors=_count(errors, "read"),
        write_errors=_count(errors, "write"),
        timeouts=_count(errors, "timeout"),
        status_errors=_count(errors, "status"),
        latency_us={key: _number(latency, key) for key in _LATENCY_KEYS},
    )


def _count(raw: Mapping[str, Any], key: str) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise WrkOutputError(f"{WRK_MARKER.strip()}: {key!r} is not a count: {value!r}")
    if value != int(value):
        raise WrkOutputError(f"{WRK_MARKER.strip()}: {key!r} is not a whole number: {value!r}")
    return int(value)


def _number(raw: Mapping[str, Any], key: str) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WrkOutputError(f"{WRK_MARKER.strip()}: latency {key!r} is not a number: {value!r}")
    return float(value)


# --- arithmetic ------------------------------------------------------------------------------


def ratio(value: float, baseline: float) -> float:
    """``value / baseline``; a baseline that is not a positive number is an error."""
    if not baseline > 0 or not math.isfinite(baseline):
        raise ValueError(f"the baseline must be a positive number, not {baseline!r}")
    return value / baseline


@dataclass(frozen=True, slots=True)
class PhaseCost:
    """One timed batch phase: its rate and the CPU microseconds each process spent per point."""

    points_per_s: float
    influxd_cpu_us: float
    generator_cpu_us: float
    service_cpu_us: float = 0.0

    @property
    def cpu_us(self) -> float:
        """CPU per point of every process taking part."""
        return self.influxd_cpu_us + self.generator_cpu_us + self.service_cpu_us


def cpu_bound_ratio(raw: PhaseCost, end_to_end: PhaseCost) -> float:
    """The end-to-end / raw ratio if CPU were the only limit of both phases.

    Both phases run on the same cores; with every core busy, their rates are
    inversely proportional to the CPU all processes spend per point.
    """
    return ratio(raw.cpu_us, end_to_end.cpu_us)


def median(values: Sequence[float]) -> float:
    """The median of at least one value."""
    if not values:
        raise ValueError("the median of no values is undefined")
    return float(statistics.median(values))


def median_ratio(pairs: Sequence[tuple[float, float]]) -> float:
    """The median of the per-round ratios of ``(value, baseline)`` pairs.

    Each round measures both sides back to back, so one noisy moment moves
    one ratio; the median drops it.
    """
    return median([ratio(value, baseline) for value, baseline in pairs])


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of already sorted values."""
    if not sorted_values:
        raise ValueError("the percentile of no values is undefined")
    if not 0 < pct <= 100:
        raise ValueError(f"percentile must be in (0, 100], not {pct}")
    rank = math.ceil(pct / 100 * len(sorted_values))
    return float(sorted_values[max(rank, 1) - 1])


def cpu_percent(cpu_seconds: float, wall_seconds: float) -> float:
    """CPU time as a percentage of wall time (100 = one core busy)."""
    if not wall_seconds > 0:
        raise ValueError(f"wall time must be positive, not {wall_seconds!r}")
    return 100.0 * cpu_seconds / wall_seconds


# --- /proc -----------------------------------------------------------------------------------


def parse_proc_stat_cpu_ticks(text: str) -> int:
    """``utime + stime`` (clock ticks) from the text of ``/proc/<pid>/stat``.

    The command name (field 2) is in parentheses and may itself contain
    spaces and parentheses, so fields are counted after its last ``)``.
    """
    head, sep, tail = text.rpartition(")")
    if not sep or "(" not in head:
        raise ValueError("not the text of /proc/<pid>/stat")
    fields = tail.split()
    # After the name: state(3) ppid(4) ... utime(14) stime(15); fields[0] is field 3.
    if len(fields) < 13:
        raise ValueError("/proc/<pid>/stat has too few fields")
    return int(fields[11]) + int(fields[12])


def parse_proc_stat_ppid(text: str) -> int:
    """The parent pid (field 4) from the text of ``/proc/<pid>/stat``."""
    _, sep, tail = text.rpartition(")")
    fields = tail.split()
    if not sep or len(fields) < 2:
        raise ValueError("not the text of /proc/<pid>/stat")
    return int(fields[1])


def parse_proc_status_rss_kib(text: str) -> int:
    """``VmRSS`` in KiB from the text of ``/proc/<pid>/status`` (0 for a zombie)."""
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            parts = line.split()
            if len(parts) != 3 or parts[2] != "kB":
                raise ValueError(f"unexpected VmRSS line: {line!r}")
            return int(parts[1])
    return 0


@dataclass(frozen=True, slots=True)
class RssTrend:
    """Resident memory over a sustained run: the peak and first vs last window means."""

    max_mb: float
    first_mb: float
    last_mb: float
    window_s: float

    @property
    def growth_mb(self) -> float:
        """Mean of the last window minus mean of the first."""
        return self.last_mb - self.first_mb

    @property
    def growth_pct(self) -> float:
        """``growth_mb`` relative to the first window, in percent."""
        return 100.0 * self.growth_mb / self.first_mb if self.first_mb else 0.0

    def as_dict(self) -> dict[str, float]:
        """The figures for ``latest.json``."""
        return {
            "max_rss_mb": round(self.max_mb, 2),
            "rss_first_window_mb": round(self.first_mb, 2),
            "rss_last_window_mb": round(self.last_mb, 2),
            "rss_growth_mb": round(self.growth_mb, 2),
            "rss_growth_pct": round(self.growth_pct, 2),
            "rss_window_s": self.window_s,
        }


def rss_trend(samples: Sequence[tuple[float, int]], window_s: float = 10.0) -> RssTrend:
    """Trend of ``(seconds, rss_bytes)`` samples: peak, first and last ``window_s`` means."""
    if not samples:
        raise ValueError("no RSS samples")
    ordered = sorted(samples)
    start, end = ordered[0][0], ordered[-1][0]
    first = [rss for t, rss in ordered if t <= start + window_s]
    last = [rss for t, rss in ordered if t >= end - window_s]
    return RssTrend(
        max_mb=max(rss for _, rss in ordered) / _MIB,
        first_mb=statistics.fmean(first) / _MIB,
        last_mb=statistics.fmean(last) / _MIB,
        window_s=window_s,
    )


# --- profiles --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FrameCost:
    """A share of the profile's samples."""

    name: str
    samples: int
    percent: float


@dataclass(frozen=True, slots=True)
class ProfileSummary:
    """Where the samples of a folded-stacks profile fall."""

    total_samples: int
    by_thread: tuple[FrameCost, ...]
    by_package: tuple[FrameCost, ...]
    by_self: tuple[FrameCost, ...]
    by_inclusive: tuple[FrameCost, ...]
    inclusive_package: str

    def render(self) -> str:
        """A plain-text report of the rankings."""
        out = [f"samples: {self.total_samples}"]
        for title, rows in (
            ("by thread", self.by_thread),
            ("self time by package (top-level module of the innermost frame)", self.by_package),
            ("self time by function", self.by_self),
            (
                f"inclusive time of {self.inclusive_package} functions (with what they call)",
                self.by_inclusive,
            ),
        ):
            out += ["", title]
            out += [f"  {row.percent:5.1f}%  {row.samples:7d}  {row.name}" for row in rows]
        return "\n".join(out) + "\n"


_FRAME_RE = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
_THREAD_RE = re.compile(r"^thread \([^)]*\): (?P<name>.*)$")
_THREAD_NUMBER_RE = re.compile(r"[-_ ]?\d+$")


def _frame_parts(frame: str) -> tuple[str, str]:
    """``function (file)`` without the line number, and the frame's package."""
    match = _FRAME_RE.match(frame)
    if match is None:
        return frame, frame
    file = match["file"]
    package = file.split("/", 1)[0].removesuffix(".py")
    return f"{match['func']} ({file})", package


def summarise_folded_stacks(
    text: str, top: int = 20, inclusive_package: str = "stats_service"
) -> ProfileSummary:
    """Rank the threads, packages and functions of folded stacks (``a;b;c count`` lines).

    A leading ``thread (id): name`` pseudo-frame (py-spy ``--threads``) names
    the thread; numbered thread names (``Thread-3``) are counted together. The
    inclusive ranking covers only functions of ``inclusive_package``, since the
    framework frames every request passes through would fill it otherwise.
    """
    total = 0
    by_thread: Counter[str] = Counter()
    by_self: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    by_inclusive: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f.strip()]
        thread = "(unnamed)"
        if frames and (match := _THREAD_RE.match(frames[0])):
            thread = _THREAD_NUMBER_RE.sub("", match["name"]) or match["name"]
            frames = frames[1:]
        frames = [f for f in frames if not f.startswith("process ")]
        if not frames:
            continue
        total += count
        by_thread[thread] += count
        leaf, package = _frame_parts(frames[-1])
        by_self[leaf] += count
        by_package[package] += count
        for name, frame_package in {_frame_parts(f) for f in frames}:
            if frame_package == inclusive_package:
                by_inclusive[name] += count
    if total == 0:
        raise ValueError("the profile holds no samples")

    def ranked(counter: Counter[str]) -> tuple[FrameCost, ...]:
        return tuple(FrameCost(name, n, 100.0 * n / total) for name, n in counter.most_common(top))

    return ProfileSummary(
        total_samples=total,
        by_thread=ranked(by_thread),
        by_package=ranked(by_package),
        by_self=ranked(by_self),
        by_inclusive=ranked(by_inclusive),
        inclusive_package=inclusive_package,
    )


# --- the results document --------------------------------------------------------------------


def lookup(doc: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted key such as ``single_event.ratio`` (KeyError when absent)."""
    value: Any = doc
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(dotted)
        value = value[part]
    return value


def validate_results(doc: Mapping[str, Any]) -> list[str]:
    """Problems that keep ``doc`` from being a complete ``latest.json``; empty when none."""
    problems: list[str] = []
    if doc.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"schema_version is not {SCHEMA_VERSION}")
    for key in REQUIRED_KEYS:
        try:
            value = lookup(doc, key)
        except KeyError:
            problems.append(f"{key} is missing")
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{key} is not a number: {value!r}")
        elif not math.isfinite(value) or value < 0:
            problems.append(f"{key} is not a finite, non-negative number: {value!r}")
    environment = doc.get("environment")
    if not isinstance(environment, Mapping):
        problems.append("environment is missing")
    else:
        problems.extend(
            f"environment.{key} is missing"
            for key in ("cpu_count", "python_version", "git_commit")
            if key not in environment
        )
    return problems


def _target_text(key: str, value: Any) -> str:
    if key not in TARGETS:
        return ""
    op, goal = TARGETS[key]
    shown = f"{op} {goal:,.0f}" if goal >= 10 else f"{op} {goal:.1f}"
    if not isinstance(value, int | float) or isinstance(value, bool):
        return shown
    met = value >= goal if op == ">=" else value <= goal
    return f"{shown} ({'met' if met else 'not met'})"


def _value_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "n/a" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


_TABLE_ROWS: tuple[tuple[str, str], ...] = (
    ("single_event.events_per_s", "single event: stats-service, events/s"),
    ("single_event.baseline_events_per_s", "single event: bare FastAPI, events/s"),
    ("single_event.ratio", "single event: ratio"),
    ("single_event.latency_p50_ms", "single event: stats-service p50, ms"),
    ("single_event.latency_p99_ms", "single event: stats-service p99, ms"),
    ("single_event.baseline_latency_p50_ms", "single event: bare FastAPI p50, ms"),
    ("single_event.baseline_latency_p99_ms", "single event: bare FastAPI p99, ms"),
    ("single_event.cpu_percent", "single event: stats-service CPU, %"),
    ("single_event.baseline_cpu_percent", "single event: bare FastAPI CPU, %"),
    ("single_event.cpu_us_per_event", "single event: stats-service CPU per event, µs"),
    ("single_event.baseline_cpu_us_per_event", "single event: bare FastAPI CPU per event, µs"),
    ("single_event.errors", "single event: failed requests (both sides)"),
    ("batch_ingest.points_per_s", "batch: /log/events until queryable, points/s"),
    ("batch_ingest.baseline_points_per_s", "batch: raw influxd /write, points/s"),
    ("batch_ingest.ratio", "batch: ratio"),
    ("batch_ingest.service_cpu_us_per_event", "batch: stats-service CPU per event, µs"),
    ("batch_ingest.influxd_cpu_us_per_point_raw", "batch: influxd CPU per point (raw), µs"),
    ("batch_ingest.cpu_bound_ratio", "batch: ratio if CPU were the only limit"),
    (
        "batch_ingest.lineprotocol_points_per_s",
        "line protocol: /api/v2/write until queryable, points/s",
    ),
    ("batch_ingest.lineprotocol_ratio", "line protocol: ratio to raw /write"),
    (
        "batch_ingest.lineprotocol_service_cpu_us_per_point",
        "line protocol: stats-service CPU per point, µs",
    ),
    (
        "batch_ingest.lineprotocol_service_cpu_vs_influxd",
        "line protocol: service CPU / influxd CPU (raw)",
    ),
    ("batch_ingest.telegraf_points_per_s", "Telegraf peer (not durable), points/s"),
    ("batch_ingest.telegraf_cpu_us_per_point", "Telegraf peer: CPU per point, µs"),
    ("batch_ingest.lineprotocol_vs_telegraf", "line protocol: ratio to the Telegraf peer"),
    ("client.log_p99_us", "client: log() p99, µs"),
    ("client.delivered_events_per_s", "client: delivered and stored, events/s"),
    ("service.max_rss_mb", "service: max RSS under sustained load, MiB"),
    ("service.rss_growth_mb", "service: RSS growth, first vs last window, MiB"),
    ("collect.poll_ms_per_1000_series", "collect: poll and publish per 1,000 series, ms"),
    ("collect.poll_snapshot_only_ms_per_1000_series", "collect: the same, events off, ms"),
    ("collect.baseline_poll_ms_per_1000_series", "collect: plain prometheus_client set(), ms"),
    ("collect.poll_ratio", "collect: poll ratio"),
    ("collect.scrape_ms_p50", "collect: /metrics with 10,000 series p50, ms"),
    ("collect.baseline_scrape_ms_p50", "collect: plain registry /metrics p50, ms"),
    ("collect.scrape_ratio", "collect: scrape ratio"),
    ("export.embedded.events_per_s", "export: embedded store, events/s"),
    ("export.embedded.baseline_events_per_s", "export: read_sql + to_csv dump, events/s"),
    ("export.embedded.ratio", "export: embedded ratio"),
    ("export.influxdb.events_per_s", "export: InfluxDB, events/s"),
    ("export.influxdb.baseline_events_per_s", "export: /query CSV dump, events/s"),
    ("export.influxdb.ratio", "export: InfluxDB ratio"),
    ("kafka.outbox_events_per_s", "kafka: single-node outbox baseline, events/s end to end"),
    ("kafka.shape_1x1_events_per_s", "kafka: 1 replica x 1 forwarder, events/s"),
    ("kafka.shape_2x1_events_per_s", "kafka: 2 replicas x 1 forwarder, events/s"),
    ("kafka.shape_3x1_events_per_s", "kafka: 3 replicas x 1 forwarder, events/s"),
    ("kafka.shape_1x2_events_per_s", "kafka: 1 replica x 2 forwarders, events/s"),
    ("kafka.shape_3x2_events_per_s", "kafka: 3 replicas x 2 forwarders, events/s"),
    ("kafka.shape_3x2_vs_outbox", "kafka: 3 x 2 ratio to the outbox"),
    ("kafka.shape_1x1_batch_ms_p50", "kafka: 500-event batch acknowledged, p50, ms"),
    ("kafka.shape_1x1_batch_ms_p99", "kafka: 500-event batch acknowledged, p99, ms"),
    ("kafka.shape_3x2_cpu_us_per_event_replicas", "kafka: API replicas CPU per event, µs"),
    ("kafka.shape_3x2_cpu_us_per_event_forwarders", "kafka: forwarders CPU per event, µs"),
    ("kafka.shape_3x2_cpu_us_per_event_broker", "kafka: broker CPU per event, µs"),
    ("kafka.shape_3x2_cpu_us_per_event_influxd", "kafka: influxd CPU per event, µs"),
    ("kafka.outbox_cpu_us_per_event_service", "kafka: outbox service CPU per event, µs"),
    ("kafka.outbox_cpu_us_per_event_influxd", "kafka: outbox influxd CPU per event, µs"),
    ("kafka.outbox_cpu_us_per_event_total", "kafka: outbox, all processes, CPU per event, µs"),
    ("kafka.shape_3x2_cpu_us_per_event_total", "kafka: 3 x 2, all processes, CPU per event, µs"),
    ("stream.latency_ms_p50", "stream: post to receive at 1,000 events/s p50, ms"),
    ("stream.latency_ms_p99", "stream: post to receive at 1,000 events/s p99, ms"),
    ("stream.ingest_events_per_s_no_subscribers", "stream: ingest, no subscribers, events/s"),
    ("stream.ingest_events_per_s_with_subscribers", "stream: ingest, 50 subscribers, events/s"),
    ("stream.ingest_ratio", "stream: ingest ratio, 50 subscribers to none"),
    ("kafka_stream.outbox_latency_ms_p50", "kafka stream: outbox post to receive p50, ms"),
    ("kafka_stream.cross_replica_latency_ms_p50", "kafka stream: post to B, receive on A p50, ms"),
    ("kafka_stream.cross_replica_latency_ms_p99", "kafka stream: post to B, receive on A p99, ms"),
)


def render_table(doc: Mapping[str, Any]) -> str:
    """The headline figures as an reStructuredText simple table, with the targets."""
    rows = [("Measure", "Value", "Target")]
    for key, label in _TABLE_ROWS:
        try:
            value = lookup(doc, key)
        except KeyError:
            value = None
        rows.append((label, _value_text(value), _target_text(key, value)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    rule = "  ".join("=" * w for w in widths)

    def line(row: tuple[str, str, str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()

    body = [rule, line(rows[0]), rule, *(line(row) for row in rows[1:]), rule]
    env = doc.get("environment", {})
    note = (
        f"{env.get('cpu_count', '?')} CPUs, Python {env.get('python_version', '?')}, "
        f"commit {str(env.get('git_commit', '?'))[:12]}, {doc.get('generated_at', '?')}; "
        "single-event figures are medians over interleaved A/B rounds."
    )
    return "\n".join(body) + "\n\n" + note + "\n"


# --- the chart -------------------------------------------------------------------------------


def _number_or_zero(doc: Mapping[str, Any], key: str) -> float:
    try:
        value = lookup(doc, key)
    except KeyError:
        return 0.0
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def draw_chart(doc: Mapping[str, Any], path: Path) -> None:
    """A PNG with the two side-by-side throughputs and the ratios against their targets."""
    import matplotlib  # noqa: PLC0415 - optional, heavy; only this function draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), layout="constrained")
    panels = (
        (
            "single event (POST /log/event)",
            "events/s",
            ("stats-service", "bare FastAPI"),
            ("single_event.events_per_s", "single_event.baseline_events_per_s"),
        ),
        (
            "batch ingest until queryable",
            "points/s",
            ("stats-service", "raw /write"),
            ("batch_ingest.points_per_s", "batch_ingest.baseline_points_per_s"),
        ),
    )
    for ax, (title, unit, labels, keys) in zip(axes[:2], panels, strict=True):
        values = [_number_or_zero(doc, key) for key in keys]
        bars = ax.bar(labels, values, color=("#3a6ea5", "#b0b0b0"))
        ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values])
        ax.set_title(title)
        ax.set_ylabel(unit)
    ratio_keys = ("single_event.ratio", "batch_ingest.ratio")
    ratios = [_number_or_zero(doc, key) for key in ratio_keys]
    ax = axes[2]
    bars = ax.bar(("single event", "batch"), ratios, color="#3a6ea5")
    ax.bar_label(bars, labels=[f"{r:.2f}" for r in ratios])
    for x, key in enumerate(ratio_keys):
        goal = TARGETS[key][1]
        ax.hlines(goal, x - 0.4, x + 0.4, colors="#c03030", linestyles="dashed")
    ax.set_title("ratio to baseline (dashed: target)")
    ax.set_ylim(0, max([*ratios, 1.1]) * 1.15)
    commit = str(doc.get("environment", {}).get("git_commit", "?"))[:12]
    fig.suptitle(f"stats-service benchmarks, commit {commit}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
