"""A real PostgreSQL for tests: ``initdb`` in a temp dir, its own loopback port and socket dir.

initdb and postgres refuse to run as root. As root (CI), both run as the
unprivileged ``nobody`` user through ``runuser``, with the temp dir handed to
that user; as anyone else they run as that user. Binaries come from the Debian
``postgresql`` package (``/usr/lib/postgresql/<major>/bin``, installed by
``make servers``). Under ``CI=true`` missing binaries fail the run; elsewhere
the PostgreSQL tests are skipped.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
from server_process import free_port

__all__ = ["PostgresServer", "postgres_database", "postgres_server"]

_RUN_AS = "nobody"


def _bin_dir() -> Path | None:
    root = Path("/usr/lib/postgresql")
    if not root.is_dir():
        return None
    versions = sorted((p for p in root.iterdir() if (p / "bin" / "initdb").exists()), reverse=True)
    return versions[0] / "bin" if versions else None


class PostgresServer:
    """One PostgreSQL cluster in ``base``; ``url(database)`` for libpq."""

    def __init__(self, bin_dir: Path, base: Path) -> None:
        self.bin_dir = bin_dir
        self.base = base
        self.data = base / "data"
        self.sockets = base / "sockets"
        self.port = free_port()
        self.user = _RUN_AS if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self._process: subprocess.Popen[bytes] | None = None

    def _as_owner(self, *command: str) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", _RUN_AS, "--", *command]
        return list(command)

    def start(self, timeout_seconds: float = 30.0) -> None:
        self.sockets.mkdir(parents=True)
        if os.geteuid() == 0:
            nobody = pwd.getpwnam(_RUN_AS)
            for path in (self.base, self.sockets):
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
        subprocess.run(
            self._as_owner(
                str(self.bin_dir / "initdb"), "-D", str(self.data), "-A", "trust",
                "-U", "postgres", "--no-sync", "-E", "UTF8",
            ),
            check=True,
            capture_output=True,
        )  # fmt: skip
        with (self.base / "postgres.log").open("wb") as log:
            self._spawn(log)
        self._wait_ready(timeout_seconds)

    def _spawn(self, log: BinaryIO) -> None:
        self._process = subprocess.Popen(
            self._as_owner(
                str(self.bin_dir / "postgres"), "-D", str(self.data),
                "-h", "127.0.0.1", "-p", str(self.port), "-k", str(self.sockets),
                "-c", "fsync=off", "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off", "-c", "max_connections=100",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    def _wait_ready(self, timeout_seconds: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited early:\n{self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                if self._ready():
                    return
            time.sleep(0.1)
        raise RuntimeError(f"postgres did not start:\n{self.log_tail()}")

    def _ready(self) -> bool:
        probe = subprocess.run(
            [str(self.bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
            capture_output=True,
            check=False,
        )
        return probe.returncode == 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg  # noqa: PLC0415

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def log_tail(self, lines: int = 30) -> str:
        path = self.base / "postgres.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()  # smart shutdown
        try:
            self._process.wait(15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)
        self._process = None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster for the session; fails under CI when the binaries are missing."""
    bin_dir = _bin_dir()
    missing = bin_dir is None or (os.geteuid() == 0 and shutil.which("runuser") is None)
    try:
        import psycopg  # noqa: F401, PLC0415
    except ImportError:
        missing = True
    if missing or bin_dir is None:
        message = "PostgreSQL (Debian postgresql) or psycopg is not installed; run make servers"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI must run the PostgreSQL tests")
        pytest.skip(message)
    # Not under pytest's temp root: as root that is private to root, and the
    # server runs as another user.
    base = Path(tempfile.mkdtemp(prefix="stats-postgres-"))
    server = PostgresServer(bin_dir, base)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> str:
    """A fresh, empty database; its libpq URL."""
    return postgres_server.create_database()
