"""Start and stop a real SeaweedFS S3 gateway (``weed server -s3``) for the export tests.

``SeaweedFS`` owns one temporary directory: the data, an S3 identity file
with one access key, and a log. Every port (master, volume, filer, S3 and
their gRPC twins) is a free loopback port; the Iceberg and Lance side servers
are off and buckets are never created implicitly, so a missing bucket stays
missing. ``make seaweedfs`` builds the binary into
``~/.cache/stats-service/bin/weed``; ``STATS_TEST_WEED`` names another.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from server_process import free_port

__all__ = ["SeaweedFS", "SeaweedFSStartError", "weed_executable"]

ACCESS_KEY = "export-tests"
SECRET_KEY = "export-tests-secret-0123456789abcdef"


class SeaweedFSStartError(RuntimeError):
    """weed exited early or its S3 gateway did not answer in time."""


def weed_executable() -> str | None:
    """``$STATS_TEST_WEED``, the ``make seaweedfs`` build, or ``weed`` on PATH."""
    named = os.environ.get("STATS_TEST_WEED")
    if named:
        return named if Path(named).is_file() else None
    built = Path.home() / ".cache" / "stats-service" / "bin" / "weed"
    if built.is_file():
        return str(built)
    return shutil.which("weed")


class SeaweedFS:
    """One ``weed server -s3`` process on loopback with its data under ``root``."""

    def __init__(self, root: Path, *, executable: str, startup_timeout_seconds: float = 60.0):
        self.root = root
        self.executable = executable
        self.startup_timeout_seconds = startup_timeout_seconds
        self.ports = {
            name: free_port()
            for name in ("master", "volume", "filer", "s3", "master_grpc", "volume_grpc")
        }
        self.ports["filer_grpc"] = free_port()
        self.ports["s3_grpc"] = free_port()
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self.log_path = root / "weed.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """The S3 endpoint URL."""
        return f"http://127.0.0.1:{self.ports['s3']}"

    def _command(self) -> list[str]:
        p = self.ports
        data = self.root / "data"
        return [
            self.executable,
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data}",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            "-volume.max=400",
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={self.root / 'filer.sock'}",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3_grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.localSocket={self.root / 's3.sock'}",
            f"-s3.config={self.root / 's3.json'}",
            "-s3.autoCreateBucket=false",
        ]

    def start(self) -> None:
        """Start weed and wait (bounded) until the S3 gateway answers."""
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        identity = {
            "name": "tests",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        (self.root / "s3.json").write_text(json.dumps({"identities": [identity]}))
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._command(),
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint, timeout=1.0):
                return True
        except urllib.error.HTTPError:
            return True  # 403 without credentials: the gateway is up
        except (urllib.error.URLError, OSError):
            return False

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_seconds
        while True:
            process = self._process
            if process is None or process.poll() is not None:
                raise SeaweedFSStartError(f"weed exited early; log tail:\n{self.log_tail()}")
            if self._answers():
                return
            if time.monotonic() >= deadline:
                raise SeaweedFSStartError(
                    f"weed's S3 gateway did not answer on {self.endpoint} within "
                    f"{self.startup_timeout_seconds} s; log tail:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; removes the sockets weed leaves in /tmp."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        for port in self.ports.values():
            for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                leftover.unlink(missing_ok=True)

    def log_tail(self, max_chars: int = 4000) -> str:
        """The end of weed's log."""
        try:
            return self.log_path.read_text(errors="replace")[-max_chars:]
        except FileNotFoundError:
            return ""
