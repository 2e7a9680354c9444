"""Single-event ingestion: stats-service ``POST /log/event`` against a bare FastAPI app.

Both servers run side by side under the same uvicorn options; wrk loads one
at a time, alternating A/B then B/A across rounds so drift and noise hit both,
and the headline ratio is the median of the per-round ratios. A final
sustained run on the service alone samples its RSS for the "stays flat" check.
Every acknowledged event is then looked up in the store's count.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.loadgen import WrkLoad, check_post, run_wrk
from benchmarks.procstat import ProcessTreeSampler, ProcessUsage
from benchmarks.report import WrkResult, cpu_percent, median, median_ratio, rss_trend
from benchmarks.servers import (
    ServerProcess,
    ServiceInstance,
    UvicornOptions,
    start_baseline,
    start_service,
)

__all__ = ["EVENT_BODY", "Measured", "SingleEventConfig", "measure", "run_single_event"]

EVENT_BODY: dict[str, Any] = {
    "event": "page.view",
    "uid": "user-0042",
    "path": "/pricing",
    "duration_ms": 125,
}
"""The body every request sends; the baseline's pydantic model has the same four keys."""

_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SingleEventConfig:
    """Durations and load of the single-event comparison."""

    seconds: int = 15
    """Length of one measured wrk run (each side, each round)."""
    rounds: int = 3
    """A/B rounds; the side that goes first alternates."""
    warmup_seconds: int = 3
    """Unmeasured load on each side before the first round."""
    sustained_seconds: int = 60
    """The service-only run whose RSS trend is reported (0 skips it)."""
    rss_window_seconds: float = 10.0
    """First and last windows of the sustained run compared for RSS growth."""
    load: WrkLoad = field(default_factory=WrkLoad)
    uvicorn: UvicornOptions = field(default_factory=UvicornOptions)

    def planned_seconds(self) -> int:
        """Load time this benchmark needs (servers' start-up not included)."""
        return 2 * self.warmup_seconds + 2 * self.rounds * self.seconds + self.sustained_seconds


@dataclass(frozen=True, slots=True)
class Measured:
    """One wrk run and what the server used meanwhile."""

    wrk: WrkResult
    usage: ProcessUsage

    @property
    def cpu_percent(self) -> float:
        """Server CPU over the run, 100 = one core."""
        return cpu_percent(self.usage.cpu_seconds, self.usage.wall_seconds)

    @property
    def cpu_us_per_event(self) -> float:
        """Server CPU time per 2xx answer, in microseconds."""
        ok = self.wrk.requests - self.wrk.non_2xx
        return 1e6 * self.usage.cpu_seconds / ok if ok else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The raw figures for ``latest.json``."""
        return {
            **self.wrk.as_dict(),
            "server_cpu_seconds": round(self.usage.cpu_seconds, 2),
            "server_cpu_percent": round(self.cpu_percent, 1),
            "server_cpu_us_per_event": round(self.cpu_us_per_event, 1),
            "server_max_rss_mb": round(self.usage.max_rss_bytes / _MIB, 2),
        }


def measure(
    server: ServerProcess,
    *,
    seconds: int,
    body_path: Path,
    token: str | None,
    load: WrkLoad,
    path: str = "/log/event",
) -> Measured:
    """Load ``server`` with wrk while sampling its CPU and RSS."""
    sampler = ProcessTreeSampler(server.pid)
    sampler.start()
    try:
        result = run_wrk(
            server.url + path, seconds=seconds, body_path=body_path, token=token, load=load
        )
    finally:
        usage = sampler.stop()
    return Measured(wrk=result, usage=usage)


def _check_targets(service: ServiceInstance, baseline: ServerProcess, body: bytes) -> None:
    answer = json.loads(check_post(service.server.url + "/log/event", body, service.token))
    if not (isinstance(answer, str) and answer.startswith("entry_")):
        raise RuntimeError(f"the service answered {answer!r}, not an event id")
    answer = json.loads(check_post(baseline.url + "/log/event", body, None))
    if not (isinstance(answer, str) and answer.startswith("entry_")):
        raise RuntimeError(f"the baseline answered {answer!r}, not an id")


def _side_summary(runs: list[Measured], prefix: str) -> dict[str, Any]:
    return {
        f"{prefix}events_per_s": round(median([m.wrk.ok_per_s for m in runs]), 1),
        f"{prefix}requests_per_s": round(median([m.wrk.requests_per_s for m in runs]), 1),
        f"{prefix}latency_p50_ms": round(median([m.wrk.latency_us["p50"] for m in runs]) / 1e3, 2),
        f"{prefix}latency_p99_ms": round(median([m.wrk.latency_us["p99"] for m in runs]) / 1e3, 2),
        f"{prefix}cpu_percent": round(median([m.cpu_percent for m in runs]), 1),
        f"{prefix}cpu_us_per_event": round(median([m.cpu_us_per_event for m in runs]), 1),
        f"{prefix}non_2xx": sum(m.wrk.non_2xx for m in runs),
        f"{prefix}socket_errors": sum(m.wrk.socket_errors for m in runs),
    }


def run_single_event(
    config: SingleEventConfig, work_dir: Path, log: Callable[[str], None]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the comparison; the ``single_event`` and ``service`` sections of the results."""
    body = json.dumps(EVENT_BODY).encode()
    body_path = work_dir / "event.json"
    body_path.parent.mkdir(parents=True, exist_ok=True)
    body_path.write_bytes(body)
    service = start_service(work_dir, config.uvicorn)
    try:
        baseline = start_baseline(work_dir, config.uvicorn)
        try:
            return _run(config, service, baseline, body, body_path, log)
        finally:
            baseline.stop()
    finally:
        service.server.stop()


def _run(
    config: SingleEventConfig,
    service: ServiceInstance,
    baseline: ServerProcess,
    body: bytes,
    body_path: Path,
    log: Callable[[str], None],
) -> tuple[dict[str, Any], dict[str, Any]]:
    load = config.load
    _check_targets(service, baseline, body)
    acknowledged = 1  # the check above stored one event
    sides: dict[str, tuple[ServerProcess, str | None]] = {
        "service": (service.server, service.token),
        "baseline": (baseline, None),
    }

    def run(side: str, seconds: int) -> Measured:
        server, token = sides[side]
        return measure(server, seconds=seconds, body_path=body_path, token=token, load=load)

    for side in ("service", "baseline"):
        if config.warmup_seconds > 0:
            warm = run(side, config.warmup_seconds)
            if side == "service":
                acknowledged += warm.wrk.requests - warm.wrk.non_2xx
    measured: dict[str, list[Measured]] = {"service": [], "baseline": []}
    runs: list[dict[str, Any]] = []
    for index in range(config.rounds):
        order = ("service", "baseline") if index % 2 == 0 else ("baseline", "service")
        for side in order:
            result = run(side, config.seconds)
            measured[side].append(result)
            runs.append({"round": index + 1, "side": side, **result.as_dict()})
            log(
                f"  round {index + 1} {side:8s} {result.wrk.ok_per_s:9.0f} events/s  "
                f"p99 {result.wrk.latency_us['p99'] / 1e3:7.1f} ms  "
                f"cpu {result.cpu_percent:5.0f}%  errors {result.wrk.errors}"
            )
    acknowledged += sum(m.wrk.requests - m.wrk.non_2xx for m in measured["service"])

    sustained: Measured | None = None
    if config.sustained_seconds > 0:
        log(f"  sustained service run, {config.sustained_seconds} s")
        sustained = run("service", config.sustained_seconds)
        acknowledged += sustained.wrk.requests - sustained.wrk.non_2xx
        runs.append({"round": 0, "side": "service-sustained", **sustained.as_dict()})

    stored = service.stored_events()
    pairs = [
        (s.wrk.ok_per_s, b.wrk.ok_per_s)
        for s, b in zip(measured["service"], measured["baseline"], strict=True)
    ]
    single: dict[str, Any] = {
        **_side_summary(measured["service"], ""),
        **_side_summary(measured["baseline"], "baseline_"),
        "ratio": round(median_ratio(pairs), 3),
        "round_ratios": [round(s / b, 3) for s, b in pairs],
        "errors": sum(m.wrk.errors for side in measured.values() for m in side),
        "connections": load.connections,
        "wrk_threads": load.threads,
        "seconds_per_run": config.seconds,
        "rounds": config.rounds,
        "uvicorn": {
            "workers": config.uvicorn.workers,
            "loop": config.uvicorn.loop,
            "http": config.uvicorn.http,
            "access_log": False,
        },
        "body": EVENT_BODY,
        "acknowledged_events": acknowledged,
        "stored_events": stored,
        "all_acknowledged_stored": stored >= acknowledged,
        "runs": runs,
    }
    service_runs = [*measured["service"], *([sustained] if sustained else [])]
    service_section: dict[str, Any] = {
        "max_rss_mb": round(max(m.usage.max_rss_bytes for m in service_runs) / _MIB, 2),
    }
    if sustained is not None:
        samples = sustained.usage.rss_samples
        trend = rss_trend(samples, config.rss_window_seconds)
        service_section.update(
            {
                **trend.as_dict(),
                "max_rss_mb": round(
                    max(service_section["max_rss_mb"], trend.max_mb), 2
                ),  # the peak of every service run, the sustained one included
                "sustained_seconds": config.sustained_seconds,
                "sustained_events_per_s": round(sustained.wrk.ok_per_s, 1),
                "sustained_cpu_percent": round(sustained.cpu_percent, 1),
                "sustained_errors": sustained.wrk.errors,
                "rss_samples_mb": [[round(t, 1), round(rss / _MIB, 2)] for t, rss in samples],
            }
        )
    return single, service_section
