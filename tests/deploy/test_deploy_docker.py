"""deploy/docker: the Dockerfile and compose file, validated without Docker.

Docker cannot run here, so these check structure and consistency: a
multi-stage build that runs as non-root with a health check; what it copies
exists and is not ignored; ports, paths, database and service names agree
with the service's settings, the Prometheus config and the Grafana
provisioning.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from stats_service import __version__
from stats_service.settings import ENV_PREFIX, Settings

_DOCKER = Path("docker")


def _instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs; comments dropped, continuations joined."""
    joined = re.sub(r"\\\n\s*", " ", text)
    result = []
    for line in joined.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        word, _, rest = stripped.partition(" ")
        result.append((word.upper(), rest.strip()))
    return result


def _stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in instructions:
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _env(stage: list[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for word, args in stage:
        if word == "ENV":
            for item in shlex.split(args):
                key, _, value = item.partition("=")
                values[key] = value
    return values


def _args(stage: list[tuple[str, str]], word: str) -> list[str]:
    return [args for w, args in stage if w == word]


@pytest.fixture(scope="module")
def dockerfile(deploy_dir) -> list[tuple[str, str]]:
    return _instructions((deploy_dir / _DOCKER / "Dockerfile").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def runtime(dockerfile) -> list[tuple[str, str]]:
    return _stages(dockerfile)[-1]


@pytest.fixture(scope="module")
def compose(deploy_dir) -> dict[str, Any]:
    return yaml.safe_load((deploy_dir / _DOCKER / "compose.yaml").read_text(encoding="utf-8"))


def _container_port(mapping: str) -> int:
    return int(mapping.rsplit(":", 1)[1])


def _volume(service: dict[str, Any], target: str) -> str:
    for volume in service["volumes"]:
        source, _, rest = volume.partition(":")
        if rest.split(":")[0] == target:
            return source
    raise AssertionError(f"nothing is mounted at {target}")


def test_build_is_multi_stage_and_copies_between_stages(dockerfile):
    stages = _stages(dockerfile)
    assert len(stages) >= 2
    names = [re.search(r"\bAS\s+(\S+)", stage[0][1], re.IGNORECASE) for stage in stages]
    assert all(names), "every stage is named"
    stage_names = {match.group(1) for match in names if match}
    copies_from = {
        m.group(1) for _, args in stages[-1] for m in [re.search(r"--from=(\S+)", args)] if m
    }
    assert copies_from, "the runtime stage takes the build's output"
    assert copies_from <= stage_names


def test_runtime_runs_as_a_non_root_user(runtime):
    (user,) = _args(runtime, "USER")
    uid = user.split(":")[0]
    assert uid not in {"root", "0"}
    assert uid.isdigit(), "a numeric uid lets Kubernetes verify runAsNonRoot"


def test_health_check_hits_the_liveness_route_on_the_service_port(runtime):
    (check,) = _args(runtime, "HEALTHCHECK")
    assert "/health/live" in check
    assert "STATS_PORT" in check


def test_port_and_data_dir_agree_with_the_settings(runtime):
    env = _env(runtime)
    (exposed,) = _args(runtime, "EXPOSE")
    assert int(exposed) == int(env["STATS_PORT"]) == Settings().port
    (volume,) = _args(runtime, "VOLUME")
    assert env["STATS_DATA_DIR"] in volume
    assert env["STATS_HOST"] == "0.0.0.0"  # a container must listen beyond loopback
    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.__dataclass_fields__}
    for name in env:
        if name.startswith(ENV_PREFIX):
            assert name in fields, f"{name} is not a setting"


def test_entrypoint_is_the_console_script_and_serve_exists(repo_root, runtime):
    project = tomllib.loads((repo_root / "service" / "pyproject.toml").read_text("utf-8"))
    (entrypoint,) = _args(runtime, "ENTRYPOINT")
    (command,) = _args(runtime, "CMD")
    assert entrypoint == '["stats-service"]'
    assert "stats-service" in project["project"]["scripts"]
    assert command == '["serve"]'
    result = subprocess.run(
        [sys.executable, "-m", "stats_service.cli", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_copied_sources_exist_and_are_not_ignored(deploy_dir, repo_root, dockerfile):
    ignore = (deploy_dir / _DOCKER / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    patterns = [
        line.strip() for line in ignore.splitlines() if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        verdict = False
        for pattern in patterns:
            negate = pattern.startswith("!")
            bare = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, bare) or bare == "**" or path.startswith(bare + "/"):
                verdict = not negate
        return verdict

    copies = [args for word, args in dockerfile if word == "COPY" and "--from" not in args]
    assert copies
    for args in copies:
        *sources, _destination = args.split()
        for source in sources:
            path = source.rstrip("/")
            assert (repo_root / path).exists(), f"COPY {source}: not in the repository"
            assert not ignored(path), f"COPY {source}: excluded by the .dockerignore"
    assert (repo_root / "service" / "README.rst").exists(), "pip needs the package README"


def test_compose_has_the_four_services(compose):
    assert set(compose["services"]) == {"influxdb", "stats-service", "prometheus", "grafana"}


def test_compose_builds_with_the_dockerfile(deploy_dir, compose):
    build = compose["services"]["stats-service"]["build"]
    context = (deploy_dir / _DOCKER / build["context"]).resolve()
    assert (context / build["dockerfile"]).resolve() == (deploy_dir / _DOCKER / "Dockerfile")
    assert compose["services"]["stats-service"]["image"] == f"stats-service:{__version__}"


def test_compose_service_settings_are_real_and_consistent(compose, runtime):
    service = compose["services"]["stats-service"]
    env = service["environment"]
    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.__dataclass_fields__}
    assert set(env) <= fields
    assert env["STATS_STORAGE_BACKEND"] == "influxdb"
    assert re.fullmatch(r"\$\{STATS_SECRET_KEYS:\?.+\}", env["STATS_SECRET_KEYS"]), (
        "the signing key must be required from the environment, never defaulted"
    )
    influx = urlsplit(env["STATS_INFLUXDB_URL"])
    assert influx.hostname in compose["services"]
    influx_ports = [_container_port(p) for p in compose["services"][influx.hostname]["ports"]]
    assert influx.port in influx_ports
    assert (
        env["STATS_INFLUXDB_DATABASE"]
        == compose["services"]["influxdb"]["environment"]["INFLUXDB_DB"]
    )
    (port,) = service["ports"]
    assert port.startswith("127.0.0.1:")
    assert _container_port(port) == int(_env(runtime)["STATS_PORT"])
    assert _volume(service, _env(runtime)["STATS_DATA_DIR"])
    assert service["read_only"] is True
    assert "/tmp" in service["tmpfs"]


def test_every_published_port_is_loopback_only(compose):
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), name


def test_prometheus_scrapes_the_compose_service(deploy_dir, compose):
    prometheus = compose["services"]["prometheus"]
    source = _volume(prometheus, "/etc/prometheus")
    assert (deploy_dir / _DOCKER / source).resolve() == deploy_dir / "prometheus"
    config = yaml.safe_load((deploy_dir / "prometheus" / "prometheus.yml").read_text("utf-8"))
    (job,) = config["scrape_configs"]
    (static,) = job["static_configs"]
    (target,) = static["targets"]
    host, port = target.split(":")
    assert host in compose["services"]
    assert int(port) == _container_port(compose["services"][host]["ports"][0])
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]


def test_grafana_is_provisioned_from_deploy_grafana(deploy_dir, compose):
    grafana = compose["services"]["grafana"]
    provisioning = _volume(grafana, "/etc/grafana/provisioning")
    assert (
        deploy_dir / _DOCKER / provisioning
    ).resolve() == deploy_dir / "grafana" / "provisioning"
    providers = yaml.safe_load(
        (deploy_dir / "grafana" / "provisioning" / "dashboards" / "stats-service.yaml").read_text(
            "utf-8"
        )
    )["providers"]
    (provider,) = providers
    dashboards = _volume(grafana, provider["options"]["path"])
    assert (deploy_dir / _DOCKER / dashboards).resolve() == deploy_dir / "grafana" / "dashboards"
    assert re.fullmatch(
        r"\$\{GRAFANA_ADMIN_PASSWORD:\?.+\}", grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    )


def test_grafana_datasources_reach_the_compose_services(deploy_dir, compose):
    path = deploy_dir / "grafana" / "provisioning" / "datasources" / "stats-service.yaml"
    for source in yaml.safe_load(path.read_text("utf-8"))["datasources"]:
        url = urlsplit(source["url"])
        assert url.hostname in compose["services"], source["name"]
        ports = [_container_port(p) for p in compose["services"][url.hostname]["ports"]]
        assert url.port in ports, source["name"]
