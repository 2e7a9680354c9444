"""Start, stop and restart a real Apache Kafka broker (KRaft, no ZooKeeper) for tests.

``KafkaBroker`` owns one temporary directory: it writes a ``server.properties``
for a single node that is both broker and controller, formats the storage with
``kafka.tools.StorageTool`` once, and starts ``kafka.Kafka`` on the classpath
``make kafka`` resolved with Maven. Ports and data survive ``stop()``/``start()``
so outage tests can take the broker away and bring it back as it was.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path
from types import TracebackType

from server_process import ServerProcess, free_port

__all__ = [
    "KafkaBroker",
    "KafkaStartError",
    "java_executable",
    "kafka_classpath",
    "kafka_classpath_file",
]

_KAFKA_VERSION = "4.4.0"

_PROPERTIES_TEMPLATE = """\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={root}/logs
metadata.log.dir={root}/metadata
num.partitions={partitions}
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.segment.bytes=8388608
log.retention.check.interval.ms=300000
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
"""


class KafkaStartError(RuntimeError):
    """The broker exited early or did not accept connections within the startup timeout."""


def kafka_classpath_file() -> Path:
    """Where ``make kafka`` writes the broker's classpath.

    ``STATS_KAFKA_CLASSPATH_FILE`` overrides it.
    """
    override = os.environ.get("STATS_KAFKA_CLASSPATH_FILE")
    if override:
        return Path(override)
    return Path.home() / ".cache" / "stats-service" / f"kafka-{_KAFKA_VERSION}" / "classpath"


def kafka_classpath() -> str | None:
    """The broker's classpath when ``make kafka`` resolved it and every jar is there, else None."""
    path = kafka_classpath_file()
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    jars = [entry for entry in text.split(os.pathsep) if entry]
    if not jars or not all(Path(jar).is_file() for jar in jars):
        return None
    return os.pathsep.join(jars)


def java_executable() -> str | None:
    """``java`` from ``JAVA_HOME`` or PATH, or None."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


class KafkaBroker(ServerProcess):
    """One combined broker+controller JVM on loopback with its data under ``root``."""

    def __init__(
        self,
        root: Path,
        *,
        classpath: str,
        java: str = "java",
        partitions: int = 4,
        heap: str = "512m",
        startup_timeout_seconds: float = 60.0,
        stop_timeout_seconds: float = 20.0,
    ) -> None:
        self.root = root
        self.classpath = classpath
        self.java = java
        self.partitions = partitions
        self.heap = heap
        self.startup_timeout_seconds = startup_timeout_seconds
        self.stop_timeout_seconds = stop_timeout_seconds
        self.ready_poll_seconds = 0.1
        self.port = free_port()
        self.controller_port = free_port()
        self.cluster_id = str(uuid.UUID(bytes=uuid.uuid4().bytes))
        self.properties_path = root / "server.properties"
        self.log_path = root / "kafka.log"
        self._formatted = False

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for clients."""
        return f"127.0.0.1:{self.port}"

    def _java_command(self, main: str, *args: str) -> list[str]:
        return [
            self.java,
            f"-Xmx{self.heap}",
            f"-Xms{min(128, int(self.heap.rstrip('m')))}m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-cp",
            self.classpath,
            main,
            *args,
        ]

    def properties(self) -> str:
        """The ``server.properties`` of this node (a cluster node overrides it)."""
        return _PROPERTIES_TEMPLATE.format(
            root=self.root.as_posix(),
            port=self.port,
            controller_port=self.controller_port,
            partitions=self.partitions,
        )

    def format_options(self) -> list[str]:
        """What ``kafka-storage format`` is told of the quorum: this node alone."""
        return ["--standalone"]

    def _format(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.properties_path.write_text(self.properties(), encoding="utf-8")
        command = self._java_command(
            "kafka.tools.StorageTool",
            "format",
            "-t",
            self.cluster_id,
            "-c",
            str(self.properties_path),
            *self.format_options(),
        )
        result = subprocess.run(command, capture_output=True, timeout=120, check=False)
        if result.returncode != 0:
            raise KafkaStartError(
                f"kafka-storage format failed ({result.returncode}):"
                f" {result.stdout.decode(errors='replace')[-2000:]}"
                f" {result.stderr.decode(errors='replace')[-2000:]}"
            )
        self._formatted = True

    def command(self) -> list[str]:
        return self._java_command("kafka.Kafka", str(self.properties_path))

    def ready(self) -> bool:
        return self._accepts()

    def start_error(self, exit_code: int | None, timeout_seconds: float | None) -> Exception:
        if timeout_seconds is None:
            return KafkaStartError(
                f"kafka exited with code {exit_code} before listening; log tail:\n{self.log_tail()}"
            )
        return KafkaStartError(
            f"kafka did not listen on {self.bootstrap_servers} within"
            f" {timeout_seconds} s; log tail:\n{self.log_tail()}"
        )

    def start(self, timeout_seconds: float | None = None) -> None:
        """Format once, start ``kafka.Kafka`` and wait (bounded) until the port accepts."""
        if self.is_running():
            return
        if not self._formatted:
            self._format()
        self.launch(self.startup_timeout_seconds if timeout_seconds is None else timeout_seconds)

    def log_tail(self, max_chars: int = 4000) -> str:
        """The end of the broker's output, for failure messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return text[-max_chars:]

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
