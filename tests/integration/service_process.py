"""Runs the real ``stats-service`` (uvicorn) as a subprocess for integration tests.

The service gets its own data dir, a strong random signing key and a free
loopback port; tokens are created through the real ``stats-service token``
command, exactly as an operator would.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from server_process import ServerProcess, free_port

__all__ = ["LiveService", "ServiceProcess", "free_port", "uvicorn_workers_command"]


def uvicorn_workers_command(port: int, workers: int) -> list[str]:
    """The service under ``uvicorn --factory`` with ``workers`` processes on 127.0.0.1:``port``."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "stats_service.app:create_app_from_env",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-server-header",
        "--timeout-graceful-shutdown",
        "5",
        "--http",
        "stats_service.api.protocols:JsonErrorsProtocol",
    ]


def _cli() -> list[str]:
    exe = shutil.which("stats-service", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "stats_service.cli"]


@dataclass
class ServiceProcess(ServerProcess):
    """One stats-service process; ``start``/``stop``/``kill`` keep the data dir."""

    data_dir: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}-service.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STATS_")}
        env.pop("TABLE_NAME", None)
        env.update(
            STATS_DATA_DIR=str(self.data_dir),
            STATS_SECRET_KEYS=self.secret_key,
            STATS_PORT=str(self.port),
            STATS_HOST="127.0.0.1",
            STATS_LOG_LEVEL="warning",
            STATS_TOKEN_RELOAD_INTERVAL_SECONDS="0",
        )
        env.update(self.extra_env)
        return env

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``stats-service ARGS`` against this service's configuration."""
        return subprocess.run(
            [*_cli(), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    def token(self, identity: str, *scopes: str, expires_in: str | None = None) -> str:
        args = ["token", "create", "--identity", identity]
        for scope in scopes:
            args += ["--scope", scope]
        if expires_in:
            args += ["--expires-in", expires_in]
        return self.cli(*args).stdout.strip()

    def command(self) -> list[str]:
        """How the service is started (subclasses run it under uvicorn directly)."""
        return [*_cli(), "serve"]

    def ready(self) -> bool:
        """Whether ``/ping`` answers 200 now."""
        try:
            return httpx.get(f"{self.url}/ping", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    def start_error(self, exit_code: int | None, timeout_seconds: float | None) -> Exception:
        if timeout_seconds is None:
            return RuntimeError(f"stats-service exited early:\n{self.log_tail()}")
        return RuntimeError(f"{self.command()[0]} did not answer /ping in time:\n{self.log_tail()}")

    def start(self, timeout_seconds: float | None = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.launch(30.0 if timeout_seconds is None else timeout_seconds)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class LiveService:
    """A running service and tokens for it."""

    process: ServiceProcess
    writer: str
    reader: str
    admin: str

    @property
    def url(self) -> str:
        return self.process.url

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Token {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)
