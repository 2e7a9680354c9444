"""Profiles the single-event hot path of the service (and of the baseline) with py-spy.

py-spy samples the running uvicorn process from outside (``--nonblocking``,
so the server is not paused) while wrk drives ``POST /log/event``. With
``--gil`` only the thread holding the GIL is sampled: the profile shows where
the one core Python can use goes. Profiling the bare FastAPI baseline the
same way shows what the service adds. The folded stacks are summarised by
thread, package and function (:func:`benchmarks.report.summarise_folded_stacks`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from benchmarks.loadgen import WrkLoad, check_post, run_wrk
from benchmarks.report import ProfileSummary, summarise_folded_stacks
from benchmarks.servers import ServerProcess, UvicornOptions, start_baseline, start_service
from benchmarks.single_event import EVENT_BODY

__all__ = ["ProfileConfig", "Target", "find_py_spy", "run_profile"]

Target = Literal["service", "baseline"]


@dataclass(frozen=True, slots=True)
class ProfileConfig:
    """How long to sample, how often, and under which load."""

    seconds: int = 15
    rate_hz: int = 100
    gil_only: bool = True
    warmup_seconds: int = 3
    load: WrkLoad = field(default_factory=WrkLoad)
    uvicorn: UvicornOptions = field(default_factory=UvicornOptions)


def find_py_spy() -> str | None:
    """py-spy next to this interpreter or on PATH; None when not installed."""
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def run_profile(
    config: ProfileConfig,
    work_dir: Path,
    output: Path,
    log: Callable[[str], None],
    target: Target = "service",
) -> ProfileSummary:
    """Profile a fresh ``target`` under load; write the summary to ``output`` and return it.

    The folded stacks stay in ``work_dir`` as ``profile-<target>.folded``.
    """
    py_spy = find_py_spy()
    if py_spy is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    body = json.dumps(EVENT_BODY).encode()
    body_path = work_dir / "profile-event.json"
    body_path.parent.mkdir(parents=True, exist_ok=True)
    body_path.write_bytes(body)
    folded = work_dir / f"profile-{target}.folded"
    token: str | None = None
    server: ServerProcess
    if target == "service":
        service = start_service(work_dir, config.uvicorn, name="profile-service")
        server, token = service.server, service.token
    else:
        server = start_baseline(work_dir, config.uvicorn, name="profile-baseline")
    try:
        url = server.url + "/log/event"
        check_post(url, body, token)
        if config.warmup_seconds > 0:
            run_wrk(
                url,
                seconds=config.warmup_seconds,
                body_path=body_path,
                token=token,
                load=config.load,
            )
        load_seconds = config.seconds + 2
        with subprocess.Popen(
            config.load.argv(url, load_seconds, body_path, token),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as wrk:
            time.sleep(1.0)  # let wrk open its connections first
            command = [
                py_spy,
                "record",
                "--pid",
                str(server.pid),
                "--duration",
                str(config.seconds),
                "--rate",
                str(config.rate_hz),
                "--nonblocking",
                "--format",
                "raw",
                "--threads",
                "--output",
                str(folded),
                *(["--gil"] if config.gil_only else []),
            ]
            spy = subprocess.run(
                command, capture_output=True, text=True, check=False, timeout=config.seconds + 60
            )
            wrk_out, _ = wrk.communicate(timeout=load_seconds + 60)
        if spy.returncode != 0:
            raise RuntimeError(f"py-spy failed: {spy.stderr.strip()[-2000:]}")
    finally:
        server.stop()
    summary = summarise_folded_stacks(
        folded.read_text(encoding="utf-8"),
        top=25,
        inclusive_package="stats_service" if target == "service" else "benchmarks",
    )
    gil_note = " --gil (only the thread holding the GIL)" if config.gil_only else ""
    requests_line = next(
        (line for line in wrk_out.splitlines() if line.startswith("Requests/sec")), "?"
    )
    what = "stats-service" if target == "service" else "the bare FastAPI baseline"
    header = [
        f"Profile of {what} under wrk load ({config.load.connections} connections).",
        f"Sampler: py-spy record --rate {config.rate_hz} --nonblocking --threads{gil_note}.",
        f"Sampled for {config.seconds} s; load during sampling: {requests_line.strip()}",
        "",
    ]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(header) + summary.render(), encoding="utf-8")
    log(f"  profile of the {target}: {summary.total_samples} samples, summary in {output}")
    return summary
