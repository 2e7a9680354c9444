"""Runs the real ``stats-collect`` command as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

__all__ = ["CollectProcess", "wait_for"]


def wait_for(
    what: str,
    check: Callable[[], bool],
    timeout_seconds: float = 60.0,
    *,
    detail: Callable[[], str] | None = None,
) -> None:
    """Poll ``check`` until it holds; AssertionError naming ``what`` after the timeout."""
    deadline = time.monotonic() + timeout_seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never saw {what}" + (f":\n{detail()}" if detail else ""))
        time.sleep(0.1)


class CollectProcess:
    """``stats-collect --config FILE`` in its own process; ``start``, ``stop``, ``kill``."""

    def __init__(self, config: Path, *, port: int, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.port = port
        self.env = {**os.environ, **(env or {})}
        self.log_path = config.with_suffix(".log")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def start(self) -> None:
        command = [sys.executable, "-m", "stats_client.collect.cli", "--config", str(self.config)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def serving() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"stats-collect exited:\n{self.log_tail()}")
            try:
                return httpx.get(self.metrics_url, timeout=1.0).status_code == 200
            except httpx.TransportError:
                return False

        wait_for("stats-collect serving /metrics", serving, 30.0)

    def metrics(self) -> str:
        return httpx.get(self.metrics_url, timeout=5.0).text

    def stop(self) -> int | None:
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(5)
        self.process = None
        return code

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            self.process = None

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return ""
