"""deploy/k8s/export-cronjob.yaml: a CronJob that runs `stats-service export run` safely.

As for the other manifests there is no cluster here: the checks parse the
objects, run the container's arguments through the real command-line parser
and load its settings with the real settings loader.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from stats_service import __version__
from stats_service.cli import _parser
from stats_service.export.window import parse_instant
from stats_service.settings import ENV_PREFIX, Settings, load_settings


@pytest.fixture(scope="module")
def documents(deploy_dir, load_yaml_documents) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in load_yaml_documents(deploy_dir / "k8s" / "export-cronjob.yaml")}


@pytest.fixture(scope="module")
def cronjob(documents) -> dict[str, Any]:
    return documents["CronJob"]


@pytest.fixture(scope="module")
def pod(cronjob) -> dict[str, Any]:
    return cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def container(pod) -> dict[str, Any]:
    (only,) = pod["containers"]
    return only


def test_runs_never_overlap_and_are_bounded(cronjob):
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["timeZone"] == "Etc/UTC"
    assert len(spec["schedule"].split()) == 5
    job = spec["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] > 0
    assert job["backoffLimit"] <= 3
    assert job["template"]["spec"]["restartPolicy"] == "Never"


def test_the_container_runs_export_run_with_arguments_the_cli_accepts(container):
    assert container["image"] == f"stats-service:{__version__}"
    args = _parser().parse_args(container["args"])
    assert args.command.__name__ == "_run"
    assert isinstance(args, argparse.Namespace)
    parse_instant(args.first_since)
    assert args.since is None  # the watermark drives the window


def _env(container) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container["env"]}


def test_environment_names_are_settings_and_keys_come_from_the_secret(container, documents):
    env = _env(container)
    known = {ENV_PREFIX + name.upper() for name in Settings.__dataclass_fields__}
    assert set(env) - {"STATS_CONFIG"} <= known
    secret = documents["Secret"]
    for name in ("STATS_EXPORT_S3_ACCESS_KEY", "STATS_EXPORT_S3_SECRET_KEY"):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"]
        assert "value" not in env[name]


def test_settings_load_from_the_configmap_and_the_env(
    container, deploy_dir, load_yaml_documents, tmp_path
):
    configmap = next(
        d
        for d in load_yaml_documents(deploy_dir / "k8s" / "configmap.yaml")
        if d["metadata"]["name"] == "stats-service-config"
    )
    ini = tmp_path / "stats-service.ini"
    ini.write_text(configmap["data"]["stats-service.ini"], encoding="utf-8")
    plain = {n: i["value"] for n, i in _env(container).items() if "value" in i}
    plain.pop("STATS_CONFIG")
    settings = load_settings(ini, plain)
    assert settings.export_target.startswith("s3://")
    assert settings.export_job == "daily"
    assert settings.data_dir == Path("/var/lib/stats-export")
    assert settings.storage_backend == "influxdb"


def test_the_config_and_the_mounts_fit_the_pod(container, pod):
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    config_path = Path(_env(container)["STATS_CONFIG"]["value"])
    assert mounts[str(config_path.parent)]["readOnly"] is True
    assert volumes[mounts[str(config_path.parent)]["name"]]["configMap"]["name"] == (
        "stats-service-config"
    )
    for writable in ("/tmp", _env(container)["STATS_DATA_DIR"]["value"]):
        assert "emptyDir" in volumes[mounts[writable]["name"]]
    for mount in container["volumeMounts"]:
        assert mount["name"] in volumes


def test_runs_as_non_root_with_a_read_only_root(pod, container):
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    box = container["securityContext"]
    assert box["readOnlyRootFilesystem"] is True
    assert box["allowPrivilegeEscalation"] is False
    assert box["capabilities"]["drop"] == ["ALL"]
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) & set(resources["limits"])
