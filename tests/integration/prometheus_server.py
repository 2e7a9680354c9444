"""A real Prometheus (Debian package ``prometheus``) on a free loopback port, for the tests.

It scrapes one target every second, may load rule files, and keeps its
config, storage and log in the test's temporary directory. Every wait is
bounded.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from service_process import free_port

__all__ = ["Prometheus", "require_prometheus", "running_prometheus"]

_WAIT_SECONDS = 60.0


def require_prometheus() -> str:
    """The ``prometheus`` executable; fails the run under ``CI=true``, else skips, when absent."""
    path = shutil.which("prometheus")
    if path is None:
        message = "prometheus is not installed (Debian package prometheus; run `make servers`)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI must run the Prometheus tests")
        pytest.skip(message)
    return path


class Prometheus:
    """A running Prometheus and its HTTP API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def api(self, path: str, **params: str) -> Any:
        body = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10.0).json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        result: list[dict[str, Any]] = data["result"]
        return result

    def wait_for(self, what: str, check: Callable[[], bool]) -> None:
        """Poll ``check`` until it holds; AssertionError naming ``what`` after a minute."""
        deadline = time.monotonic() + _WAIT_SECONDS
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"Prometheus never showed {what}")
            time.sleep(0.25)


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
        server.wait_for("readiness", ready)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
