"""deploy/k8s: every manifest parses and the objects fit together and with the service.

No cluster here, so the checks are the ones a reviewer would make: probes on
the health routes, resources, non-root with a read-only root filesystem, the
outbox on a PersistentVolumeClaim per replica, signing keys from a Secret,
settings that the real settings loader accepts, selectors that match.
"""

from __future__ import annotations

import configparser
import json
from pathlib import Path
from typing import Any

import pytest

from stats_service import __version__
from stats_service.auth import AccessFile, is_unsafe_secret_key
from stats_service.settings import ENV_PREFIX, Settings, load_settings

_POD_LABELS = {"app.kubernetes.io/name": "stats-service", "app.kubernetes.io/component": "api"}
_MEMORY_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


@pytest.fixture(scope="module")
def objects(deploy_dir, load_yaml_documents) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted((deploy_dir / "k8s").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in load_yaml_documents(path):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, f"{key} defined twice"
            found[key] = doc
    return found


@pytest.fixture(scope="module")
def workload(objects) -> dict[str, Any]:
    return objects[("StatefulSet", "stats-service")]


@pytest.fixture(scope="module")
def container(workload) -> dict[str, Any]:
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    return only


@pytest.fixture(scope="module")
def env(container) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container["env"]}


def _mount(container: dict[str, Any], path: str) -> dict[str, Any]:
    for mount in container["volumeMounts"]:
        if path == mount["mountPath"] or path.startswith(mount["mountPath"].rstrip("/") + "/"):
            return mount
    raise AssertionError(f"nothing is mounted at {path}")


def _config_ini(objects) -> str:
    return objects[("ConfigMap", "stats-service-config")]["data"]["stats-service.ini"]


def _settings(objects, env, tmp_path: Path) -> Settings:
    """What the service would load in the pod: the ConfigMap's INI plus the plain env."""
    ini = tmp_path / "stats-service.ini"
    ini.write_text(_config_ini(objects), encoding="utf-8")
    plain = {name: item["value"] for name, item in env.items() if "value" in item}
    plain.pop("STATS_CONFIG")
    return load_settings(ini, plain)


def _volumes(objects) -> list[dict[str, Any]]:
    return objects[("StatefulSet", "stats-service")]["spec"]["template"]["spec"]["volumes"]


def _cpu(text: str) -> float:
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _memory(text: str) -> int:
    return int(text[:-2]) * _MEMORY_UNITS[text[-2:]]


def test_kustomization_lists_every_manifest(deploy_dir, load_yaml_documents):
    (kustomization,) = load_yaml_documents(deploy_dir / "k8s" / "kustomization.yaml")
    files = {p.name for p in (deploy_dir / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)


def test_every_object_is_labelled_and_named(objects):
    kinds = {kind for kind, _ in objects}
    assert kinds >= {
        "StatefulSet",
        "Service",
        "ConfigMap",
        "Secret",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ServiceMonitor",
        "PrometheusRule",
    }
    for (kind, name), obj in objects.items():
        assert obj["apiVersion"], (kind, name)
        assert obj["metadata"]["labels"]["app.kubernetes.io/name"] == "stats-service", name


def test_workload_selects_its_own_pods(workload):
    assert workload["spec"]["selector"]["matchLabels"] == _POD_LABELS
    assert workload["spec"]["template"]["metadata"]["labels"] == _POD_LABELS


def test_image_is_this_release(container):
    assert container["image"] == f"stats-service:{__version__}"


@pytest.mark.parametrize(
    ("probe", "path"),
    [
        ("livenessProbe", "/health/live"),
        ("readinessProbe", "/health/ready"),
        ("startupProbe", "/health/live"),
    ],
    ids=["liveness", "readiness", "startup"],
)
def test_probes_use_the_health_routes(container, probe, path):
    get = container[probe]["httpGet"]
    assert get["path"] == path
    port_names = {port["name"] for port in container["ports"]}
    assert get["port"] in port_names


def test_the_health_routes_exist_in_the_app():
    from stats_service.api.routes import health  # noqa: PLC0415 - a new route module

    paths = {route.path for route in health.router.routes}
    assert {"/health/live", "/health/ready"} <= paths


def test_resources_have_requests_within_limits(container):
    resources = container["resources"]
    for kind in ("cpu", "memory"):
        assert kind in resources["requests"]
        assert kind in resources["limits"]
    assert _cpu(resources["requests"]["cpu"]) <= _cpu(resources["limits"]["cpu"])
    assert _memory(resources["requests"]["memory"]) <= _memory(resources["limits"]["memory"])


def test_runs_as_non_root_with_a_read_only_root_filesystem(workload, container):
    pod = workload["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] != 0
    assert pod["fsGroup"] != 0
    box = container["securityContext"]
    assert box["readOnlyRootFilesystem"] is True
    assert box["allowPrivilegeEscalation"] is False
    assert box["capabilities"]["drop"] == ["ALL"]
    assert workload["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_tmp_is_writable_despite_the_read_only_root(workload, container):
    volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes[_mount(container, "/tmp")["name"]]


def test_the_data_dir_is_a_persistent_volume_claim_per_replica(
    objects, env, workload, container, tmp_path
):
    settings = _settings(objects, env, tmp_path)
    mount = _mount(container, str(settings.data_dir))
    assert mount["mountPath"] == str(settings.data_dir)
    assert not mount.get("readOnly", False)
    claims = {c["metadata"]["name"]: c for c in workload["spec"]["volumeClaimTemplates"]}
    claim = claims[mount["name"]]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"]
    retention = workload["spec"]["persistentVolumeClaimRetentionPolicy"]
    assert retention == {"whenDeleted": "Retain", "whenScaled": "Retain"}


def test_settings_from_the_configmap_load_and_fit_the_pod(objects, env, container, tmp_path):
    settings = _settings(objects, env, tmp_path)
    assert settings.port == container["ports"][0]["containerPort"]
    assert settings.host == "0.0.0.0"
    assert settings.storage_backend == "influxdb", "replicas cannot share an embedded store"
    assert settings.log_format == "json"
    assert settings.metrics_enabled is True


def test_config_file_is_mounted_where_stats_config_points(objects, env, container):
    path = Path(env["STATS_CONFIG"]["value"])
    mount = _mount(container, str(path))
    assert mount["readOnly"] is True
    volumes = {v["name"]: v for v in _volumes(objects)}
    config_map = objects[("ConfigMap", volumes[mount["name"]]["configMap"]["name"])]
    assert path.name in config_map["data"]
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(config_map["data"][path.name])
    assert parser.sections() == ["stats_service"]


def test_access_file_is_shared_and_usable(objects, env, container, tmp_path):
    path = Path(env["STATS_ACCESS_FILE"]["value"])
    mount = _mount(container, str(path))
    volumes = {v["name"]: v for v in _volumes(objects)}
    config_map = objects[("ConfigMap", volumes[mount["name"]]["configMap"]["name"])]
    local = tmp_path / "access.json"
    local.write_text(config_map["data"][path.name], encoding="utf-8")
    assert json.loads(local.read_text())["tokens"] == []
    # The operator's workflow: add a token to a local copy, then update the ConfigMap.
    access = AccessFile(local)
    record = access.add("my-app", ["write"], expires_at=None, now=1_700_000_000)
    assert [r.token_id for r in AccessFile(local).records()] == [record.token_id]


def test_every_mount_has_a_volume(workload, container):
    spec = workload["spec"]
    names = {v["name"] for v in spec["template"]["spec"]["volumes"]}
    names |= {c["metadata"]["name"] for c in spec["volumeClaimTemplates"]}
    for mount in container["volumeMounts"]:
        assert mount["name"] in names, mount


def test_environment_names_are_settings(env):
    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.__dataclass_fields__}
    for name in env:
        assert name in fields or name == "STATS_CONFIG", f"{name} is not a setting"


def test_signing_keys_come_from_the_secret_and_the_sample_is_refused(objects, env):
    ref = env["STATS_SECRET_KEYS"]["valueFrom"]["secretKeyRef"]
    secret = objects[("Secret", ref["name"])]
    placeholder = secret["stringData"][ref["key"]]
    assert all(is_unsafe_secret_key(key) for key in placeholder.split(","))
    assert "secret_keys" not in _config_ini(objects), "keys belong in the Secret only"


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_services_route_to_the_pods_by_named_port(objects, container):
    port_names = {port["name"] for port in container["ports"]}
    services = [obj for (kind, _), obj in objects.items() if kind == "Service"]
    assert len(services) == 2
    for service in services:
        assert _matches(service["spec"]["selector"], _POD_LABELS)
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names


def test_the_statefulset_names_its_headless_service(objects, workload):
    peers = objects[("Service", workload["spec"]["serviceName"])]
    assert peers["spec"]["clusterIP"] == "None"


def test_the_servicemonitor_scrapes_one_service_on_metrics(objects):
    monitor = objects[("ServiceMonitor", "stats-service")]
    selector = monitor["spec"]["selector"]["matchLabels"]
    chosen = [
        obj
        for (kind, _), obj in objects.items()
        if kind == "Service" and _matches(selector, obj["metadata"]["labels"])
    ]
    assert len(chosen) == 1, "each pod must be scraped once"
    (service,) = chosen
    # The job label is the Service name; the alert rules select job="stats-service".
    assert service["metadata"]["name"] == "stats-service"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}


def test_the_autoscaler_targets_the_workload(objects, workload):
    hpa = objects[("HorizontalPodAutoscaler", "stats-service")]
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == (workload["kind"], workload["metadata"]["name"])
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"


def test_the_disruption_budget_keeps_a_replica_up(objects):
    pdb = objects[("PodDisruptionBudget", "stats-service")]
    assert _matches(pdb["spec"]["selector"]["matchLabels"], _POD_LABELS)
    hpa = objects[("HorizontalPodAutoscaler", "stats-service")]
    assert pdb["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"]
