"""The benchmark runner behind ``make bench``: runs every benchmark and writes the results.

``python -m benchmarks`` runs, in order: the single-event comparison (with
the sustained RSS run), the client SDK, the batch-ingest comparison (from
``benchmarks.ingest_vs_raw_write``), a py-spy profile of the single-event
hot path, the collectors (``benchmarks.collect``) and the export throughput
(``benchmarks.export_throughput``). It writes ``latest.json``, ``latest.rst``
(table) and ``latest.png`` (chart) to the results directory, and exits 1 when
a required figure is missing or a correctness check failed. Durations come from flags,
which default to ``BENCH_*`` environment variables (see ``--help``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib
import importlib.metadata
import inspect
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.client_sdk import ClientConfig, run_client
from benchmarks.collect import CollectBenchConfig, run_collect
from benchmarks.hotpath_profile import ProfileConfig, find_py_spy, run_profile
from benchmarks.kafka_scale import KafkaBenchConfig, KafkaUnavailable, run_kafka
from benchmarks.kafka_stream import (
    KafkaStreamBenchConfig,
    KafkaStreamUnavailable,
    run_kafka_stream,
)
from benchmarks.loadgen import WrkLoad, wrk_version
from benchmarks.report import (
    SCHEMA_VERSION,
    draw_chart,
    ratio,
    render_table,
    validate_results,
)
from benchmarks.servers import REPO_ROOT, UvicornOptions
from benchmarks.single_event import SingleEventConfig, run_single_event
from benchmarks.stream import StreamBenchConfig, run_stream

__all__ = ["SECTIONS", "RunnerConfig", "main", "parse_config", "run_batch"]

SECTIONS = (
    "single",
    "client",
    "batch",
    "profile",
    "collect",
    "export",
    "kafka",
    "stream",
    "kafka_stream",
)
"""What the runner can run; ``--only`` picks some."""

_DEFAULT_BATCH_ENTRY = "benchmarks.ingest_vs_raw_write:run"
_PACKAGES = (
    "stats-service",
    "stats-client",
    "fastapi",
    "starlette",
    "pydantic",
    "uvicorn",
    "uvloop",
    "httptools",
    "orjson",
)


_BATCH_CPU_KEYS = (
    "service_cpu_us_per_event",
    "influxd_cpu_us_per_point_raw",
    "influxd_cpu_us_per_point_end_to_end",
    "cpu_bound_ratio",
    "lineprotocol_points_per_s",
    "lineprotocol_ratio",
    "lineprotocol_service_cpu_us_per_point",
    "lineprotocol_influxd_cpu_us_per_point",
    "lineprotocol_service_cpu_vs_influxd",
    "telegraf_points_per_s",
    "telegraf_cpu_us_per_point",
    "lineprotocol_vs_telegraf",
)
"""CPU figures of the batch benchmark's answer shown beside its rates, when it has them."""


class BatchUnavailable(RuntimeError):
    """The batch-ingest benchmark module or its entry point is not there."""


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    """Everything one run needs; built once from flags and ``BENCH_*`` variables."""

    sections: tuple[str, ...]
    single: SingleEventConfig
    client: ClientConfig
    profile: ProfileConfig
    batch_events: int
    batch_entry: str
    export_events: int
    results_dir: Path
    keep_work_dir: bool

    def planned_seconds(self) -> int:
        """Load time of the selected sections, start-ups and the batch module's excluded."""
        total = 0
        if "single" in self.sections:
            total += self.single.planned_seconds()
        if "profile" in self.sections:
            total += 2 * (self.profile.seconds + self.profile.warmup_seconds + 3)
        return total


def _env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {text!r}") from None


def parse_config(argv: Sequence[str] | None, environ: Mapping[str, str]) -> RunnerConfig:
    """Flags first, then ``BENCH_*`` variables, then defaults."""

    def env_int(name: str, default: int) -> int:
        return _env_int(environ, name, default)

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Side-by-side benchmarks of stats-service (results under benchmarks/results).",
    )
    parser.add_argument(
        "--only",
        default=environ.get("BENCH_ONLY", ",".join(SECTIONS)),
        help=f"comma-separated sections to run, of {', '.join(SECTIONS)} (BENCH_ONLY)",
    )
    parser.add_argument(
        "--seconds",
        type=int,
        default=env_int("BENCH_SECONDS", 15),
        help="one measured wrk run, each side, each round (BENCH_SECONDS, 15)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=env_int("BENCH_ROUNDS", 3),
        help="interleaved A/B rounds of the single-event comparison (BENCH_ROUNDS, 3)",
    )
    parser.add_argument(
        "--warmup-seconds",
        type=int,
        default=env_int("BENCH_WARMUP_SECONDS", 3),
        help="unmeasured load before measuring (BENCH_WARMUP_SECONDS, 3)",
    )
    parser.add_argument(
        "--sustained-seconds",
        type=int,
        default=env_int("BENCH_SUSTAINED_SECONDS", 60),
        help="service-only run for the RSS trend; 0 skips it (BENCH_SUSTAINED_SECONDS, 60)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=env_int("BENCH_CONNECTIONS", 64),
        help="wrk connections (BENCH_CONNECTIONS, 64)",
    )
    parser.add_argument(
        "--wrk-threads",
        type=int,
        default=env_int("BENCH_WRK_THREADS", 2),
        help="wrk threads (BENCH_WRK_THREADS, 2)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=env_int("BENCH_WORKERS", 1),
        help="uvicorn workers of both servers (BENCH_WORKERS, 1)",
    )
    parser.add_argument(
        "--loop",
        default=environ.get("BENCH_LOOP", "uvloop"),
        help="uvicorn --loop of both servers (BENCH_LOOP, uvloop)",
    )
    parser.add_argument(
        "--http",
        default=environ.get("BENCH_HTTP", "httptools"),
        help="uvicorn --http of both servers (BENCH_HTTP, httptools)",
    )
    parser.add_argument(
        "--client-events",
        type=int,
        default=env_int("BENCH_CLIENT_EVENTS", 100_000),
        help="log() calls timed in the SDK benchmark (BENCH_CLIENT_EVENTS, 100000)",
    )
    parser.add_argument(
        "--batch-events",
        type=int,
        default=env_int("BENCH_BATCH_EVENTS", 100_000),
        help="points per batch-ingest measurement (BENCH_BATCH_EVENTS, 100000)",
    )
    parser.add_argument(
        "--batch-entry",
        default=environ.get("BENCH_BATCH_ENTRY", _DEFAULT_BATCH_ENTRY),
        help=f"module:function of the batch-ingest benchmark ({_DEFAULT_BATCH_ENTRY})",
    )
    parser.add_argument(
        "--export-events",
        type=int,
        default=env_int("BENCH_EXPORT_EVENTS", 100_000),
        help="events per backend in the export benchmark (BENCH_EXPORT_EVENTS, 100000)",
    )
    parser.add_argument(
        "--profile-seconds",
        type=int,
        default=env_int("BENCH_PROFILE_SECONDS", 15),
        help="py-spy sampling time of the profile section (BENCH_PROFILE_SECONDS, 15)",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=Path(environ.get("BENCH_RESULTS_DIR", str(REPO_ROOT / "benchmarks" / "results"))),
        help="where latest.json/.rst/.png go (BENCH_RESULTS_DIR, benchmarks/results)",
    )
    parser.add_argument(
        "--keep-work-dir",
        action="store_true",
        help="keep the temporary data dirs and server logs (kept anyway after a failure)",
    )
    args = parser.parse_args(argv)
    sections = tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    for name in (
        "seconds",
        "rounds",
        "connections",
        "wrk_threads",
        "workers",
        "client_events",
        "batch_events",
        "export_events",
    ):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    load = WrkLoad(connections=args.connections, threads=args.wrk_threads)
    uvicorn = UvicornOptions(workers=args.workers, loop=args.loop, http=args.http)
    return RunnerConfig(
        sections=sections,
        single=SingleEventConfig(
            seconds=args.seconds,
            rounds=args.rounds,
            warmup_seconds=args.warmup_seconds,
            sustained_seconds=args.sustained_seconds,
            load=load,
            uvicorn=uvicorn,
        ),
        client=ClientConfig(events=args.client_events, uvicorn=uvicorn),
        profile=ProfileConfig(
            seconds=args.profile_seconds,
            warmup_seconds=args.warmup_seconds,
            load=load,
            uvicorn=uvicorn,
        ),
        batch_events=args.batch_events,
        batch_entry=args.batch_entry,
        export_events=args.export_events,
        results_dir=args.results_dir,
        keep_work_dir=args.keep_work_dir,
    )


def run_batch(
    entry: str, *, events: int, work_dir: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    """Run the batch-ingest benchmark named by ``module:function`` and shape its answer.

    When the module has that function, it is called with whichever of
    ``events``, ``work_dir`` and ``log`` it accepts, and returns a mapping (or
    dataclass) with ``points_per_s`` and ``baseline_points_per_s``. Otherwise,
    when it has a ``main``, it runs as ``python -m module --events N`` in its own
    process and its answer is read from the JSON file named by its ``RESULTS``.
    Other keys are kept under ``raw``.
    """
    module_name, _, function_name = entry.partition(":")
    function_name = function_name or "run"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise BatchUnavailable(f"module {module_name} is not there yet") from None
        raise
    function = getattr(module, function_name, None)
    if callable(function):
        answer = _call_batch_function(entry, function, events=events, work_dir=work_dir, log=log)
    elif callable(getattr(module, "main", None)) and getattr(module, "RESULTS", None):
        answer = _run_batch_command(module_name, Path(module.RESULTS), events, log)
    else:
        raise BatchUnavailable(f"{module_name} has neither {function_name}() nor main() + RESULTS")
    points = float(_first(answer, "points_per_s", "end_to_end_events_per_second"))
    baseline = float(_first(answer, "baseline_points_per_s", "raw_points_per_second"))
    result = {
        "points_per_s": round(points, 1),
        "baseline_points_per_s": round(baseline, 1),
        "ratio": round(ratio(points, baseline), 3),
        "entry": entry,
        "raw": answer,
    }
    for key in _BATCH_CPU_KEYS:
        if isinstance(answer.get(key), int | float):
            result[key] = answer[key]
    log(
        f"  {points:.0f} points/s vs raw /write {baseline:.0f} points/s: "
        f"ratio {result['ratio']:.2f}"
    )
    return result


def _first(answer: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in answer:
            return answer[key]
    raise KeyError(f"the batch benchmark answered none of {', '.join(keys)}")


def _call_batch_function(
    entry: str,
    function: Callable[..., Any],
    *,
    events: int,
    work_dir: Path,
    log: Callable[[str], None],
) -> dict[str, Any]:
    offered: dict[str, Any] = {"events": events, "work_dir": work_dir, "log": log}
    parameters = inspect.signature(function).parameters
    missing = [
        name
        for name, p in parameters.items()
        if p.default is inspect.Parameter.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and name not in offered
    ]
    if missing:
        raise BatchUnavailable(f"{entry} needs arguments the runner cannot give: {missing}")
    raw_answer = function(**{k: v for k, v in offered.items() if k in parameters})
    if dataclasses.is_dataclass(raw_answer) and not isinstance(raw_answer, type):
        return dataclasses.asdict(raw_answer)
    if isinstance(raw_answer, Mapping):
        return dict(raw_answer)
    raise TypeError(f"{entry} returned {type(raw_answer).__name__}, not a mapping")


def _run_batch_command(
    module_name: str, results_file: Path, events: int, log: Callable[[str], None]
) -> dict[str, Any]:
    before = results_file.stat().st_mtime_ns if results_file.exists() else None
    done = subprocess.run(
        [sys.executable, "-m", module_name, "--events", str(events)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    for line in done.stdout.splitlines():
        log(f"  | {line}")
    if done.returncode != 0:
        raise RuntimeError(f"{module_name} failed ({done.returncode}): {done.stderr[-2000:]}")
    if not results_file.exists() or results_file.stat().st_mtime_ns == before:
        raise RuntimeError(f"{module_name} did not write {results_file}")
    answer: dict[str, Any] = json.loads(results_file.read_text(encoding="utf-8"))
    return answer


def _command_output(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, check=False, timeout=10, cwd=REPO_ROOT
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _cpu_model() -> str | None:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return None


def environment_facts() -> dict[str, Any]:
    """The machine, interpreter, commit and package versions of this run."""
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    git = shutil.which("git")
    status = _command_output([git, "status", "--porcelain"]) if git else None
    try:
        load_average = Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3]
    except OSError:
        load_average = []
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "git_commit": (_command_output([git, "rev-parse", "HEAD"]) if git else None) or "unknown",
        "git_dirty": bool(status) if status is not None else None,
        "wrk": wrk_version(),
        "py_spy": _command_output([py_spy, "--version"]) if (py_spy := find_py_spy()) else None,
        "load_average_at_start": [float(x) for x in load_average],
        "packages": versions,
    }


def _config_facts(config: RunnerConfig) -> dict[str, Any]:
    single = config.single
    return {
        "sections": list(config.sections),
        "seconds_per_run": single.seconds,
        "rounds": single.rounds,
        "warmup_seconds": single.warmup_seconds,
        "sustained_seconds": single.sustained_seconds,
        "connections": single.load.connections,
        "wrk_threads": single.load.threads,
        "uvicorn": dataclasses.asdict(single.uvicorn),
        "client_events": config.client.events,
        "batch_events": config.batch_events,
        "batch_entry": config.batch_entry,
        "export_events": config.export_events,
        "profile_seconds": config.profile.seconds,
    }


def _checks(doc: Mapping[str, Any]) -> list[str]:
    problems = validate_results(doc)
    single = doc.get("single_event", {})
    if single.get("all_acknowledged_stored") is False:
        problems.append(
            f"single_event: {single.get('acknowledged_events')} events acknowledged but only "
            f"{single.get('stored_events')} stored"
        )
    if single.get("errors"):
        problems.append(f"single_event: {single['errors']} failed requests")
    if doc.get("service", {}).get("sustained_errors"):
        problems.append(f"service: {doc['service']['sustained_errors']} failed requests")
    client = doc.get("client", {})
    if client.get("all_stored") is False:
        problems.append(
            f"client: {client.get('stored_events')} stored of {client.get('expected_events')}"
        )
    for section in (
        "single_event",
        "batch_ingest",
        "client",
        "service",
        "collect",
        "export",
        "kafka",
        "stream",
        "kafka_stream",
    ):
        failure = doc.get(section, {}).get("failed")
        if failure:
            problems.append(f"{section} failed: {failure}")
    return problems


def write_results(doc: Mapping[str, Any], results_dir: Path, log: Callable[[str], None]) -> None:
    """``latest.json``, ``latest.rst`` and (with matplotlib) ``latest.png``."""
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "latest.json").write_text(
        json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8"
    )
    (results_dir / "latest.rst").write_text(render_table(doc), encoding="utf-8")
    try:
        draw_chart(doc, results_dir / "latest.png")
    except ImportError:
        log("matplotlib is not installed: no chart (pip install matplotlib)")


def run(config: RunnerConfig, work_dir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Run the selected sections; the results document."""
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "environment": environment_facts(),
        "config": _config_facts(config),
    }
    started = time.monotonic()

    def section(name: str, title: str, body: Callable[[], None]) -> None:
        if name not in config.sections:
            return
        log(f"[{time.monotonic() - started:6.0f} s] {title}")
        body()

    def single() -> None:
        try:
            doc["single_event"], doc["service"] = run_single_event(config.single, work_dir, log)
        except Exception as exc:
            log(f"  failed: {exc}")
            doc["single_event"] = {"failed": str(exc)}
            doc["service"] = {"failed": str(exc)}

    def client() -> None:
        try:
            doc["client"] = run_client(config.client, work_dir, log)
        except Exception as exc:
            log(f"  failed: {exc}")
            doc["client"] = {"failed": str(exc)}

    def batch() -> None:
        try:
            doc["batch_ingest"] = run_batch(
                config.batch_entry, events=config.batch_events, work_dir=work_dir, log=log
            )
        except BatchUnavailable as exc:
            log(f"  skipped: {exc}")
            doc["batch_ingest"] = {"skipped": str(exc)}
        except Exception as exc:
            log(f"  failed: {exc}")
            doc["batch_ingest"] = {"failed": str(exc)}

    def profile() -> None:
        if find_py_spy() is None:
            log("  skipped: py-spy is not installed (pip install py-spy)")
            return
        found: dict[str, Any] = {}
        for target in ("service", "baseline"):
            file_name = f"profile-{target}.txt"
            try:
                summary = run_profile(
                    config.profile, work_dir, config.results_dir / file_name, log, target
                )
            except Exception as exc:
                log(f"  failed: {exc}")
                continue
            found[target] = {
                "samples": summary.total_samples,
                "by_thread": {row.name: round(row.percent, 1) for row in summary.by_thread[:5]},
                "by_package": {row.name: round(row.percent, 1) for row in summary.by_package[:10]},
                "summary_file": file_name,
            }
        doc["profile"] = found

    def collect() -> None:
        try:
            doc["collect"] = run_collect(CollectBenchConfig(), log)
        except Exception as exc:
            log(f"  failed: {exc}")
            doc["collect"] = {"failed": str(exc)}

    def export() -> None:
        from benchmarks.export_throughput import run as run_export_benchmark  # noqa: PLC0415

        try:
            doc["export"] = run_export_benchmark(config.export_events, work_dir=work_dir, log=log)
        except Exception as exc:
            log(f"  failed: {exc}")
            doc["export"] = {"failed": str(exc)}

    def kafka() -> None:
        try:
            doc["kafka"] = run_kafka(KafkaBenchConfig(), work_dir, log)
        except KafkaUnavailable as exc:
            log(f"  skipped: {exc}")
            doc["kafka"] = {"skipped": str(exc)}
        except Exception as exc:
            log(f"  failed: {exc}")
            doc["kafka"] = {"failed": str(exc)}

    section("single", "single event: stats-service vs bare FastAPI", single)
    section("client", "client SDK: log() cost and delivered rate", client)
    section("batch", "batch ingest: /log/events until queryable vs raw /write", batch)
    section("profile", "profile of the single-event hot path (py-spy)", profile)
    section("collect", "collectors: poll and /metrics vs plain prometheus_client", collect)
    section("export", "export: run_export vs a plain read_sql / CSV dump", export)
    section("kafka", "scale-out on Kafka: replicas x forwarders vs the outbox", kafka)

    def stream() -> None:
        try:
            doc["stream"] = run_stream(StreamBenchConfig(), work_dir, log)
        except Exception as exc:
            log(f"  failed: {exc}")
            doc["stream"] = {"failed": str(exc)}

    section("stream", "live stream: delivery latency, ingest with 0 vs 50 subscribers", stream)

    def kafka_stream() -> None:
        try:
            doc["kafka_stream"] = run_kafka_stream(KafkaStreamBenchConfig(), work_dir, log)
        except KafkaStreamUnavailable as exc:
            log(f"  skipped: {exc}")
            doc["kafka_stream"] = {"skipped": str(exc)}
        except Exception as exc:
            log(f"  failed: {exc}")
            doc["kafka_stream"] = {"failed": str(exc)}

    section("kafka_stream", "live stream across Kafka replicas vs one outbox process", kafka_stream)
    doc["elapsed_seconds"] = round(time.monotonic() - started, 1)
    return doc


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; 0 when every required figure is there and every check passed."""
    config = parse_config(argv, os.environ)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if wrk_version() is None and {"single", "profile"} & set(config.sections):
        log("wrk is not installed: apt-get install wrk")
        return 2
    log(
        f"benchmarks: {', '.join(config.sections)}; about {config.planned_seconds()} s of load "
        "plus the client and batch sections"
    )
    work_dir = Path(tempfile.mkdtemp(prefix="stats-bench-"))
    failed = True
    try:
        doc = run(config, work_dir, log)
        problems = _checks(doc)
        doc["problems"] = problems
        write_results(doc, config.results_dir, log)
        failed = bool(problems)
    finally:
        if config.keep_work_dir or failed:
            log(f"work dir kept: {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    print(render_table(doc))
    for problem in problems:
        log(f"problem: {problem}")
    log(f"results in {config.results_dir} after {doc['elapsed_seconds']} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
