"""One base for the real servers the integration tests run: a subprocess on loopback.

``ServerProcess.launch`` starts ``command()`` with its output appended to
``log_path`` and waits, bounded, until ``ready()`` holds; when the process
exits first or the time runs out it is stopped and the subclass's start error
is raised with the end of the log. ``stop`` sends SIGTERM, then SIGKILL after
``stop_timeout_seconds``; ``kill`` is SIGKILL at once (a crash). Ports,
configuration files and data directories stay the subclass's own, so a
server can be stopped and started again as it was.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["ServerProcess", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """A server subprocess: what to run and when it is ready come from the subclass."""

    log_path: Path
    """Where the server's output goes (appended across restarts)."""
    process: subprocess.Popen[bytes] | None = None
    stop_timeout_seconds: float = 15.0
    ready_poll_seconds: float = 0.05

    def command(self) -> list[str]:
        """The server's command line."""
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        """The server's environment; None inherits this process's."""
        return None

    def ready(self) -> bool:
        """Whether the server serves now (one quick probe)."""
        raise NotImplementedError

    def log_tail(self) -> str:
        """The end of the server's output, for failure messages."""
        raise NotImplementedError

    def start_error(self, exit_code: int | None, timeout_seconds: float | None) -> Exception:
        """The error when the server exited before it was ready (``exit_code``) or was not
        ready within ``timeout_seconds``."""
        if timeout_seconds is None:
            return RuntimeError(f"{self.command()[0]} exited early:\n{self.log_tail()}")
        return RuntimeError(f"{self.command()[0]} was not ready in time:\n{self.log_tail()}")

    @property
    def pid(self) -> int | None:
        """The process id while running, else None."""
        process = self.process
        return process.pid if process is not None and process.poll() is None else None

    def is_running(self) -> bool:
        """Whether the process is alive (not whether it serves yet)."""
        return self.process is not None and self.process.poll() is None

    def launch(self, timeout_seconds: float) -> None:
        """Start ``command()`` into the log and wait (bounded) until ``ready()``."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_until_ready(timeout_seconds)
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        while True:
            process = self.process
            if process is None or process.poll() is not None:
                raise self.start_error(None if process is None else process.returncode, None)
            if self.ready():
                return
            if time.monotonic() >= deadline:
                raise self.start_error(None, timeout_seconds)
            time.sleep(self.ready_poll_seconds)

    def stop(self, timeout_seconds: float | None = None) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL after the timeout; idempotent."""
        timeout = self.stop_timeout_seconds if timeout_seconds is None else timeout_seconds
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks run (a crash); starting again brings it back."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.kill()
        process.wait(timeout=self.stop_timeout_seconds)

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """Stop the server for the ``with`` block and start it again afterwards, even on error."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def start(self, timeout_seconds: float | None = None) -> None:
        """Start the server (subclasses prepare what it needs, then ``launch``)."""
        raise NotImplementedError
