"""The Kafka topology's deploy files: compose.kafka.yaml and deploy/k8s-kafka.

No Docker and no cluster here, so the checks are a reviewer's: every
setting is a real one that the settings loader accepts with ``queue =
kafka``, the API replicas are stateless and probed on the health routes,
forwarders run ``forward`` in one consumer group, the HPA scales the API
Deployment, topics have enough partitions for the forwarders, monitor
aggregators apply the results the replicas produce to the store the replicas
read, and published ports are loopback only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from stats_service.settings import ENV_PREFIX, Settings, settings_from_environment

_SETTING_NAMES = {ENV_PREFIX + name.upper() for name in Settings.__dataclass_fields__}
_KEY = "k" * 48


def _settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in [n for n in __import__("os").environ if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    return settings_from_environment(None)


# -- compose ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose(deploy_dir: Path) -> dict[str, Any]:
    text = (deploy_dir / "docker" / "compose.kafka.yaml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = dict(service["environment"])
    env["STATS_SECRET_KEYS"] = _KEY
    return {k: str(v) for k, v in env.items()}


def test_compose_runs_three_replicas_two_forwarders_a_broker_and_influxdb(compose):
    services = compose["services"]
    apis = [n for n, s in services.items() if s.get("command") == ["serve"]]
    forwarders = [n for n, s in services.items() if s.get("command") == ["forward"]]
    assert len(apis) == 3
    assert len(forwarders) == 2
    assert {"kafka", "influxdb", "topics"} <= set(services)


_PROCESSES = (["serve"], ["forward"], ["monitor-aggregate"])


def test_compose_settings_are_real_and_select_kafka(compose, monkeypatch):
    for name, service in compose["services"].items():
        if service.get("command") not in _PROCESSES:
            continue
        env = _env(service)
        assert set(env) <= _SETTING_NAMES, name
        settings = _settings(env, monkeypatch)
        assert settings.queue == "kafka", name
        host, _, port = settings.kafka_bootstrap_servers.partition(":")
        assert host in compose["services"]
        assert (
            f"PLAINTEXT://{host}:{port}"
            in compose["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
        )


def test_compose_creates_both_topics_before_the_processes_start(compose):
    command = " ".join(compose["services"]["topics"]["command"])
    env = _env(compose["services"]["api-1"])
    assert f"--topic {env['STATS_KAFKA_TOPIC']} " in command
    assert f"--topic {env['STATS_KAFKA_DEAD_LETTER_TOPIC']} " in command
    assert f"--topic {env['STATS_KAFKA_MONITOR_RESULTS_TOPIC']} " in command
    for name, service in compose["services"].items():
        if service.get("command") in _PROCESSES:
            condition = service["depends_on"]["topics"]["condition"]
            assert condition == "service_completed_successfully", name


def test_compose_aggregates_the_monitor_results_the_replicas_produce(compose, monkeypatch):
    services = compose["services"]
    aggregators = [n for n, s in services.items() if s.get("command") == ["monitor-aggregate"]]
    assert len(aggregators) >= 1
    apis = [n for n, s in services.items() if s.get("command") == ["serve"]]
    seen = set()
    for name in [*apis, *aggregators]:
        settings = _settings(_env(services[name]), monkeypatch)
        assert settings.monitors_enabled, name
        assert settings.monitors_store == "postgres", name  # shared by every replica
        assert settings.kafka_monitor_results_topic, name
        seen.add(
            (
                settings.kafka_monitor_results_topic,
                settings.kafka_monitor_aggregator_group,
                settings.monitors_database_url,
            )
        )
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert len(seen) == 1  # one topic, one group, one store for all of them
    ((_topic, _group, url),) = seen
    assert "@postgres:" in url
    assert "POSTGRES_PASSWORD" in services["postgres"]["environment"]


def test_compose_publishes_ports_on_loopback_only(compose):
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), name


# -- Kubernetes -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def objects(deploy_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    folder = deploy_dir / "k8s-kafka"
    listed = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for name in listed["resources"]:
        for doc in yaml.safe_load_all((folder / name).read_text(encoding="utf-8")):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found
            found[key] = doc
    assert sorted(listed["resources"]) == sorted(
        p.name for p in folder.glob("*.yaml") if p.name != "kustomization.yaml"
    )
    return found


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def _pod_env(objects: dict[tuple[str, str], dict[str, Any]], name: str) -> dict[str, str]:
    container = _container(objects[("Deployment", name)])
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(objects[("ConfigMap", source["configMapRef"]["name"])]["data"])
    for item in container.get("env", []):
        env[item["name"]] = item.get("value", _KEY)
    return env


@pytest.mark.parametrize(
    "name", ["stats-service-api", "stats-service-forwarder", "stats-service-monitor-aggregator"]
)
def test_pods_use_real_settings_that_select_kafka(objects, name, monkeypatch):
    env = _pod_env(objects, name)
    assert set(env) <= _SETTING_NAMES
    settings = _settings(env, monkeypatch)
    assert settings.queue == "kafka"
    assert settings.storage_backend == "influxdb"


def test_the_api_is_a_probed_stateless_deployment_scaled_by_the_hpa(objects):
    api = objects[("Deployment", "stats-service-api")]
    container = _container(api)
    assert container["args"] == ["serve"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert "volumeClaimTemplates" not in api["spec"]
    hpa = objects[("HorizontalPodAutoscaler", "stats-service-api")]
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "stats-service-api")
    selector = api["spec"]["selector"]["matchLabels"]
    assert objects[("Service", "stats-service-api")]["spec"]["selector"] == selector


def test_forwarders_run_forward_and_serve_metrics_on_their_port(objects, monkeypatch):
    forwarder = objects[("Deployment", "stats-service-forwarder")]
    container = _container(forwarder)
    assert container["args"] == ["forward"]
    settings = _settings(_pod_env(objects, "stats-service-forwarder"), monkeypatch)
    (port,) = container["ports"]
    assert port["containerPort"] == settings.kafka_forwarder_metrics_port
    assert container["livenessProbe"]["httpGet"]["port"] == port["name"]


def test_monitor_aggregators_apply_what_the_replicas_check(objects, monkeypatch):
    aggregator = objects[("Deployment", "stats-service-monitor-aggregator")]
    assert _container(aggregator)["args"] == ["monitor-aggregate"]
    api = _settings(_pod_env(objects, "stats-service-api"), monkeypatch)
    applied = _settings(_pod_env(objects, "stats-service-monitor-aggregator"), monkeypatch)
    assert api.monitors_enabled
    assert api.kafka_monitor_results_topic
    assert api.kafka_monitor_results_topic == applied.kafka_monitor_results_topic
    assert api.kafka_monitor_aggregator_group == applied.kafka_monitor_aggregator_group
    assert api.monitors_store == applied.monitors_store == "postgres"

    def url_secret(name: str) -> dict[str, Any]:
        (item,) = [
            e
            for e in _container(objects[("Deployment", name)])["env"]
            if e["name"] == "STATS_MONITORS_DATABASE_URL"
        ]
        ref: dict[str, Any] = item["valueFrom"]["secretKeyRef"]
        return ref

    assert url_secret("stats-service-api") == url_secret("stats-service-monitor-aggregator")
    configmap = objects[("ConfigMap", "stats-service-kafka-env")]["data"]
    assert "STATS_MONITORS_DATABASE_URL" not in configmap, "the URL holds a password"
    topic = objects[("KafkaTopic", api.kafka_monitor_results_topic)]["spec"]
    assert topic["partitions"] >= aggregator["spec"]["replicas"]
    assert topic["replicas"] >= 3
    assert int(topic["config"]["min.insync.replicas"]) >= 2


def test_topics_have_room_for_the_forwarders_and_survive_a_broker(objects, monkeypatch):
    settings = _settings(_pod_env(objects, "stats-service-api"), monkeypatch)
    events = objects[("KafkaTopic", settings.kafka_topic)]["spec"]
    dead = objects[("KafkaTopic", settings.kafka_dead_letter_topic)]["spec"]
    forwarders = objects[("Deployment", "stats-service-forwarder")]["spec"]["replicas"]
    assert events["partitions"] >= forwarders
    for spec in (events, dead):
        assert spec["replicas"] >= 3
        assert int(spec["config"]["min.insync.replicas"]) >= 2
