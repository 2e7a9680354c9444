"""Three real Kafka nodes (KRaft, each broker and controller) on loopback, for failover tests.

``KafkaCluster`` gives every node its own directory and ports, a static
controller quorum of all of them (``controller.quorum.voters``), replication
factor 3 and ``min.insync.replicas=2``: one node may die and every write still
reaches two replicas; with two down there is no quorum and nothing is
acknowledged. Nodes start in parallel (a broker waits for a controller
quorum); ``kill`` is SIGKILL and ``start`` brings a node back on its ports
with its data.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kafka_broker import KafkaBroker, KafkaStartError

__all__ = ["ClusterNode", "KafkaCluster"]

_NODE_TEMPLATE = """\
process.roles=broker,controller
node.id={node_id}
controller.quorum.voters={voters}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={root}/logs
metadata.log.dir={root}/metadata
num.partitions={partitions}
default.replication.factor={replicas}
min.insync.replicas={min_insync}
offsets.topic.replication.factor={replicas}
offsets.topic.num.partitions=4
transaction.state.log.replication.factor={replicas}
transaction.state.log.min.isr={min_insync}
share.coordinator.state.topic.replication.factor={replicas}
share.coordinator.state.topic.min.isr={min_insync}
unclean.leader.election.enable=false
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
replica.lag.time.max.ms=5000
log.segment.bytes=8388608
log.retention.check.interval.ms=300000
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
background.threads=2
"""


class ClusterNode(KafkaBroker):
    """One node of a :class:`KafkaCluster`: a voter of the static quorum."""

    def __init__(self, root: Path, *, node_id: int, replicas: int, **options: Any) -> None:
        super().__init__(root, **options)
        self.node_id = node_id
        self.replicas = replicas
        self.voters = ""

    def properties(self) -> str:
        return _NODE_TEMPLATE.format(
            node_id=self.node_id,
            voters=self.voters,
            root=self.root.as_posix(),
            port=self.port,
            controller_port=self.controller_port,
            partitions=self.partitions,
            replicas=self.replicas,
            min_insync=max(1, self.replicas - 1),
        )

    def format_options(self) -> list[str]:
        return []  # the voters are in the properties: a static quorum


class KafkaCluster:
    """``size`` combined broker+controller nodes sharing one cluster id."""

    def __init__(
        self,
        root: Path,
        *,
        classpath: str,
        java: str = "java",
        size: int = 3,
        partitions: int = 4,
        heap: str = "384m",
        startup_timeout_seconds: float = 90.0,
    ) -> None:
        cluster_id = str(uuid.UUID(bytes=uuid.uuid4().bytes))
        self.nodes = [
            ClusterNode(
                root / f"node-{node_id}",
                node_id=node_id,
                replicas=size,
                classpath=classpath,
                java=java,
                partitions=partitions,
                heap=heap,
                startup_timeout_seconds=startup_timeout_seconds,
            )
            for node_id in range(1, size + 1)
        ]
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        for node in self.nodes:
            node.cluster_id = cluster_id
            node.voters = voters
        self.startup_timeout_seconds = startup_timeout_seconds

    @property
    def bootstrap_servers(self) -> str:
        """Every node's ``host:port``, comma-separated, for clients."""
        return ",".join(node.bootstrap_servers for node in self.nodes)

    def node(self, node_id: int) -> ClusterNode:
        """The node with this ``node.id``."""
        return next(node for node in self.nodes if node.node_id == node_id)

    def start(self, nodes: list[ClusterNode] | None = None) -> None:
        """Start ``nodes`` (all by default) in parallel; wait until every running one serves."""
        chosen = self.nodes if nodes is None else nodes
        with ThreadPoolExecutor(len(chosen)) as pool:
            for future in [pool.submit(node.start) for node in chosen]:
                future.result()
        self.wait_for_brokers(sum(1 for node in self.nodes if node.is_running()))

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL); idempotent."""
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda node: node.stop(), self.nodes))

    def _admin(self) -> Any:
        from confluent_kafka.admin import AdminClient  # noqa: PLC0415 - the kafka extra

        return AdminClient({"bootstrap.servers": self.bootstrap_servers})

    def wait_for_brokers(self, count: int) -> None:
        """Wait (bounded) until the metadata lists ``count`` brokers."""
        admin = self._admin()
        deadline = time.monotonic() + self.startup_timeout_seconds
        seen = 0
        while time.monotonic() < deadline:
            try:
                seen = len(admin.list_topics(timeout=2).brokers)
            except Exception:  # not answering yet
                seen = 0
            if seen >= count:
                return
            time.sleep(0.2)
        tails = "\n".join(f"node {n.node_id}:\n{n.log_tail(1500)}" for n in self.nodes)
        raise KafkaStartError(f"{seen} of {count} Kafka brokers registered in time:\n{tails}")

    def create_topic(self, topic: str, partitions: int = 4) -> None:
        """Create ``topic`` replicated on every node, ``min.insync.replicas`` one fewer."""
        from confluent_kafka.admin import NewTopic  # noqa: PLC0415 - the kafka extra

        size = len(self.nodes)
        new = NewTopic(
            topic,
            num_partitions=partitions,
            replication_factor=size,
            config={"min.insync.replicas": str(max(1, size - 1))},
        )
        admin = self._admin()  # held until the futures resolve
        for future in admin.create_topics([new], operation_timeout=30).values():
            future.result(timeout=60)

    def leader(self, topic: str, partition: int = 0) -> ClusterNode:
        """The node leading ``partition`` of ``topic`` now."""
        metadata = self._admin().list_topics(topic, timeout=10)
        return self.node(metadata.topics[topic].partitions[partition].leader)
