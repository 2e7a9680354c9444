"""Runs the real ``stats-collect`` command as a subprocess, and a real Prometheus beside it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from service_process import free_port

__all__ = ["CollectProcess", "Prometheus", "require_prometheus", "running_prometheus", "wait_for"]


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


def require_prometheus() -> str:
    path = shutil.which("prometheus")
    if path is None:
        message = "prometheus is not installed (Debian package prometheus; run `make servers`)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI must run the collector scrape test")
        pytest.skip(message)
    return path


class Prometheus:
    """A running Prometheus and its HTTP API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def api(self, path: str) -> Any:
        body = httpx.get(f"{self.url}/api/v1/{path}", timeout=10.0).json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        body = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10.0).json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result


@contextmanager
def running_prometheus(
    target: str, job: str, tmp_path: Path, rule_files: Sequence[Path] = ()
) -> Iterator[Prometheus]:
    """Prometheus scraping ``target`` every second as ``job``, on a free loopback port."""
    executable = require_prometheus()
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}],
    }
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    log_path = tmp_path / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                executable,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Prometheus(f"http://127.0.0.1:{port}")

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"prometheus exited:\n{log_path.read_text()[-3000:]}")
        try:
            return httpx.get(f"{server.url}/-/ready", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for("Prometheus ready", ready)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
