"""Start, stop and restart a real ``influxd`` (InfluxDB 1.x) for integration tests.

``InfluxDServer`` owns one temporary directory: it writes its own config
there (meta, data and WAL directories, a log file), binds HTTP and RPC to
free loopback ports chosen once, and keeps those ports and the data across
``stop()``/``start()`` so durability tests can take the server away for a
while and bring it back as it was.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from server_process import ServerProcess, free_port

__all__ = ["InfluxDServer", "InfluxDStartError", "influxd_executable"]

_CONFIG_TEMPLATE = """\
reporting-disabled = true
reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{root}/meta"
  retention-autocreate = true
  logging-enabled = false

[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false

[coordinator]
  write-timeout = "10s"

[retention]
  enabled = false

[shard-precreation]
  enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  auth-enabled = {auth_enabled}
  log-enabled = true
  pprof-enabled = false
  https-enabled = false
  unix-socket-enabled = false

[logging]
  level = "info"
  suppress-logo = true

[ifql]
  enabled = false

[continuous_queries]
  enabled = false

[[graphite]]
  enabled = false

[[collectd]]
  enabled = false

[[opentsdb]]
  enabled = false

[[udp]]
  enabled = false
"""


class InfluxDStartError(RuntimeError):
    """influxd exited early or did not answer ``/ping`` within the startup timeout."""


def influxd_executable() -> str | None:
    """The path of ``influxd`` on PATH, or None when it is not installed."""
    return shutil.which("influxd")


class InfluxDServer(ServerProcess):
    """One ``influxd`` process on loopback with its own config and data under ``root``."""

    def __init__(
        self,
        root: Path,
        *,
        executable: str = "influxd",
        auth_enabled: bool = False,
        startup_timeout_seconds: float = 30.0,
        stop_timeout_seconds: float = 10.0,
    ) -> None:
        self.root = root
        self.executable = executable
        self.auth_enabled = auth_enabled
        self.startup_timeout_seconds = startup_timeout_seconds
        self.stop_timeout_seconds = stop_timeout_seconds
        self.http_port = free_port()
        self.rpc_port = free_port()
        self.config_path = root / "influxdb.conf"
        self.log_path = root / "influxd.log"

    @property
    def url(self) -> str:
        """Base URL of the HTTP API, e.g. ``http://127.0.0.1:8086``."""
        return f"http://127.0.0.1:{self.http_port}"

    def write_config(self) -> None:
        """(Re)write the config file; the ports and directories never change."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            _CONFIG_TEMPLATE.format(
                root=self.root.as_posix(),
                http_port=self.http_port,
                rpc_port=self.rpc_port,
                auth_enabled="true" if self.auth_enabled else "false",
            ),
            encoding="utf-8",
        )

    def command(self) -> list[str]:
        return [self.executable, "-config", str(self.config_path)]

    def ready(self) -> bool:
        return self.ping(timeout_seconds=0.5)

    def start_error(self, exit_code: int | None, timeout_seconds: float | None) -> Exception:
        if timeout_seconds is None:
            return InfluxDStartError(
                f"influxd exited with code {exit_code} before answering /ping;"
                f" log tail:\n{self.log_tail()}"
            )
        return InfluxDStartError(
            f"influxd did not answer /ping on {self.url} within"
            f" {timeout_seconds} s; log tail:\n{self.log_tail()}"
        )

    def start(self, timeout_seconds: float | None = None) -> None:
        """Start influxd and wait (bounded) until ``/ping`` answers 204."""
        if self.is_running():
            return
        self.write_config()
        self.launch(self.startup_timeout_seconds if timeout_seconds is None else timeout_seconds)

    def restart(self) -> None:
        """Stop and start again on the same ports with the same data."""
        self.stop()
        self.start()

    def ping(self, timeout_seconds: float = 1.0) -> bool:
        """Whether ``GET /ping`` answers 204 now."""
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=timeout_seconds) as response:
                return bool(response.status == 204)
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, max_chars: int = 4000) -> str:
        """The end of influxd's log, for failure messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return text[-max_chars:]

    def __enter__(self) -> InfluxDServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
