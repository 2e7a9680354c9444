"""Settings: defaults, INI, environment precedence, legacy TABLE_NAME, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from stats_service.auth.keys import generate_secret_key
from stats_service.errors import ConfigurationError
from stats_service.settings import Settings, load_settings, setting_docs

STRONG = "k" * 48


def _ini(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "settings.ini"
    path.write_text("[stats_service]\n" + body, encoding="utf-8")
    return path


def test_defaults_without_any_source() -> None:
    settings = load_settings(None, {})
    assert settings == Settings()
    assert settings.port == 20080
    assert settings.measurement == "analytics"
    assert settings.storage_backend == "embedded"
    assert settings.resolved_access_file == Path("var/access.json")


def test_environment_overrides_ini(tmp_path: Path) -> None:
    ini = _ini(tmp_path, "port = 1234\nmeasurement = from_ini\ndata_dir = /srv/a\n")
    settings = load_settings(ini, {"STATS_PORT": "4321", "STATS_DATA_DIR": "/srv/b"})
    assert settings.port == 4321
    assert settings.data_dir == Path("/srv/b")
    assert settings.measurement == "from_ini"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TABLE_NAME": "legacy"}, "legacy"),
        ({"TABLE_NAME": "legacy", "STATS_MEASUREMENT": "modern"}, "modern"),
        ({"TABLE_NAME": ""}, "analytics"),
    ],
    ids=["legacy-only", "modern-wins", "empty-legacy"],
)
def test_measurement_sources(env: dict[str, str], expected: str) -> None:
    assert load_settings(None, env).measurement == expected


def test_types_are_converted() -> None:
    settings = load_settings(
        None,
        {
            "STATS_DEVELOPMENT_MODE": "yes",
            "STATS_SECRET_KEYS": f"{STRONG}, old-{STRONG} ,",
            "STATS_TAG_KEYS": "country,plan",
            "STATS_TOKEN_RELOAD_INTERVAL_SECONDS": "0.5",
            "STATS_MAX_BATCH_EVENTS": "1_000",
        },
    )
    assert settings.development_mode is True
    assert settings.secret_keys == (STRONG, f"old-{STRONG}")
    assert settings.tag_keys == ("country", "plan")
    assert settings.token_reload_interval_seconds == 0.5
    assert settings.max_batch_events == 1000


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STATS_PORT": "http"}, "port"),
        ({"STATS_PORT": "70000"}, "port"),
        ({"STATS_DEVELOPMENT_MODE": "maybe"}, "development_mode"),
        ({"STATS_STORAGE_BACKEND": "mongodb"}, "storage_backend"),
        ({"STATS_MAX_BODY_BYTES": "0"}, "max_body_bytes"),
        ({"STATS_LOG_LEVEL": "loud"}, "log_level"),
    ],
    ids=["port-text", "port-range", "bool", "backend", "zero-limit", "log-level"],
)
def test_bad_values_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_settings(None, env)


def test_secret_values_are_not_echoed_in_errors() -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings(None, {"STATS_INFLUXDB_TIMEOUT_SECONDS": "soon"})
    assert "soon" in info.value.message
    settings = load_settings(None, {"STATS_SECRET_KEYS": STRONG, "STATS_INFLUXDB_PASSWORD": "pw"})
    assert STRONG not in repr(settings)
    assert "pw" not in str(settings.redacted()["influxdb_password"])
    assert settings.redacted()["secret_keys"] == "<redacted>"


def test_unknown_ini_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="prot"):
        load_settings(_ini(tmp_path, "prot = 1\n"), {})


def test_missing_config_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_settings(tmp_path / "absent.ini", {})


def test_ini_without_section_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "other.ini"
    path.write_text("[app:main]\nuse = egg:x\n", encoding="utf-8")
    assert load_settings(path, {}) == Settings()


def test_serving_needs_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no token signing keys"):
        load_settings(None, {"STATS_DATA_DIR": str(tmp_path)}).check_serving()


@pytest.mark.parametrize(
    "key",
    [generate_secret_key(development=True), "short-key"],
    ids=["development-key", "short-key"],
)
def test_unsafe_keys_need_development_mode(tmp_path: Path, key: str) -> None:
    env = {"STATS_DATA_DIR": str(tmp_path), "STATS_SECRET_KEYS": key}
    with pytest.raises(ConfigurationError, match="development"):
        load_settings(None, env).check_serving()
    assert load_settings(None, {**env, "STATS_DEVELOPMENT_MODE": "true"}).check_serving() == (key,)


def test_keys_are_read_from_the_key_file(tmp_path: Path) -> None:
    (tmp_path / "secret.key").write_text(f"# current\n{STRONG}\n\nold-{STRONG}\n", encoding="utf-8")
    settings = load_settings(None, {"STATS_DATA_DIR": str(tmp_path)})
    assert settings.check_serving() == (STRONG, f"old-{STRONG}")


def test_every_setting_is_documented() -> None:
    rows = setting_docs()
    assert len(rows) == len(Settings.__dataclass_fields__)
    for name, _default, doc in rows:
        assert name.startswith("STATS_")
        assert doc, f"{name} has no doc"
