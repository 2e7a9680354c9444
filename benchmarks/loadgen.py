"""Drives HTTP load with ``wrk`` (a separate process) and checks a target first.

wrk runs ``wrk/post_json.lua``, which POSTs one JSON body with an optional
token and prints its figures as one ``WRK_RESULT`` JSON line; parsing lives in
:mod:`benchmarks.report`.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.report import WrkResult, parse_wrk_output

__all__ = ["POST_JSON_SCRIPT", "WrkLoad", "check_post", "run_wrk", "wrk_version"]

POST_JSON_SCRIPT = Path(__file__).resolve().parent / "wrk" / "post_json.lua"


@dataclass(frozen=True, slots=True)
class WrkLoad:
    """How hard wrk pushes: connections, threads and the per-request timeout."""

    connections: int = 64
    threads: int = 2
    timeout_seconds: int = 10
    executable: str = "wrk"

    def argv(self, url: str, seconds: int, body_path: Path, token: str | None) -> list[str]:
        """The wrk command line for one run of ``seconds``."""
        args = [
            self.executable,
            "--threads",
            str(self.threads),
            "--connections",
            str(self.connections),
            "--duration",
            f"{max(seconds, 1)}s",
            "--timeout",
            f"{self.timeout_seconds}s",
            "--script",
            str(POST_JSON_SCRIPT),
            url,
            "--",
            str(body_path),
        ]
        if token:
            args.append(token)
        return args


def wrk_version(executable: str = "wrk") -> str | None:
    """wrk's version line, or None when wrk is not installed."""
    path = shutil.which(executable)
    if path is None:
        return None
    # wrk prints its version and usage with -v and exits 1.
    done = subprocess.run([path, "-v"], capture_output=True, text=True, check=False, timeout=10)
    first = (done.stdout or done.stderr).splitlines()
    return first[0].strip() if first else "unknown"


def run_wrk(
    url: str, *, seconds: int, body_path: Path, token: str | None, load: WrkLoad
) -> WrkResult:
    """Run wrk against ``url`` for ``seconds`` and parse its figures."""
    done = subprocess.run(
        load.argv(url, seconds, body_path, token),
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + load.timeout_seconds + 30,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return parse_wrk_output(done.stdout)


def check_post(url: str, body: bytes, token: str | None) -> str:
    """POST ``body`` once and return the answer; a non-2xx answer is an error.

    Run before each load so a misconfigured target (401, 422) cannot pass as fast.
    """
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    response = httpx.post(url, content=body, headers=headers, timeout=10.0)
    if not response.is_success:
        raise RuntimeError(f"POST {url} answered {response.status_code}: {response.text[:500]}")
    return response.text
