"""Starts the servers under test as separate uvicorn processes on loopback.

Both sides of the single-event comparison are started the same way (one
:class:`UvicornOptions`): same worker count, event loop and HTTP parser,
access log off, only warnings logged. The service gets its own data dir, a
random signing key and a write token made by the real ``stats-service token
create`` command.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = [
    "REPO_ROOT",
    "ServerProcess",
    "ServiceInstance",
    "UvicornOptions",
    "free_port",
    "start_baseline",
    "start_service",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout; the servers run from here so ``benchmarks.baseline_app`` imports."""

SERVICE_FACTORY = "stats_service.app:create_app_from_env"
BASELINE_FACTORY = "benchmarks.baseline_app:create_app"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class UvicornOptions:
    """The uvicorn settings every server under test shares."""

    workers: int = 1
    loop: str = "uvloop"
    http: str = "httptools"

    def argv(self, factory: str, port: int) -> list[str]:
        """The command line serving ``factory`` on ``127.0.0.1:port``."""
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            factory,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(self.workers),
            "--loop",
            self.loop,
            "--http",
            self.http,
            "--no-access-log",
            "--no-server-header",
            "--log-level",
            "warning",
        ]


@dataclass
class ServerProcess:
    """One server process; its output goes to ``log_path``."""

    name: str
    argv: list[str]
    env: Mapping[str, str]
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL on loopback."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The pid of the (top) server process."""
        if self.process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.process.pid

    def start(self, timeout_seconds: float = 30.0) -> None:
        """Start and wait (bounded) until the port accepts connections."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=dict(self.env),
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not listen in time:\n{self.log_tail()}")

    def stop(self, timeout_seconds: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_seconds``; idempotent."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def log_tail(self, max_chars: int = 3000) -> str:
        """The end of the server's output, for error messages."""
        try:
            return self.log_path.read_text(errors="replace")[-max_chars:]
        except OSError:
            return ""

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass
class ServiceInstance:
    """A stats-service process on the embedded store, with a write token."""

    server: ServerProcess
    data_dir: Path
    token: str = field(repr=False)

    @property
    def database(self) -> Path:
        """The embedded store's SQLite file."""
        return self.data_dir / "events.sqlite3"

    def stored_events(self) -> int:
        """How many events the embedded store holds (read-only connection)."""
        conn = sqlite3.connect(f"{self.database.as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            row = conn.execute("SELECT count(*) FROM events").fetchone()
        finally:
            conn.close()
        return int(row[0])


def _service_env(data_dir: Path, secret_key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATS_")}
    env.pop("TABLE_NAME", None)
    env.update(
        STATS_DATA_DIR=str(data_dir),
        STATS_SECRET_KEYS=secret_key,
        STATS_LOG_LEVEL="warning",
        # Access lines off on both sides, as uvicorn's are (--no-access-log);
        # metrics stay on: they are part of the service's ingest path.
        STATS_ACCESS_LOG="false",
    )
    return env


def _stats_service_cli() -> list[str]:
    script = Path(sys.executable).with_name("stats-service")
    return [str(script)] if script.exists() else [sys.executable, "-m", "stats_service.cli"]


def start_service(
    work_dir: Path,
    options: UvicornOptions,
    name: str = "service",
    extra_env: Mapping[str, str] | None = None,
) -> ServiceInstance:
    """A fresh service under ``work_dir/name`` (empty store), started and ready."""
    data_dir = work_dir / name / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = _service_env(data_dir, secrets.token_urlsafe(48))
    env.update(extra_env or {})
    token = subprocess.run(
        [*_stats_service_cli(), "token", "create", "--identity", "bench", "--scope", "write"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    port = free_port()
    server = ServerProcess(
        name=name,
        argv=options.argv(SERVICE_FACTORY, port),
        env=env,
        port=port,
        log_path=work_dir / name / "server.log",
    )
    server.start()
    return ServiceInstance(server=server, data_dir=data_dir, token=token)


def start_baseline(
    work_dir: Path, options: UvicornOptions, name: str = "baseline"
) -> ServerProcess:
    """The bare FastAPI app, started and ready."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATS_")}
    port = free_port()
    server = ServerProcess(
        name=name,
        argv=options.argv(BASELINE_FACTORY, port),
        env=env,
        port=port,
        log_path=work_dir / name / "server.log",
    )
    server.start()
    return server
