"""ClientConfig: defaults, the init dict, and clear errors for bad options."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from stats_client import ClientConfig, ConfigurationError, MemoryTransport


def test_defaults_are_documented_values():
    config = ClientConfig()
    assert config.defer is True
    assert config.disabled is False
    assert config.max_queue_events == 10_000
    assert config.drop_policy == "newest"
    assert config.gzip_min_bytes == 1024
    assert config.shutdown_timeout_seconds == 2.0
    assert dict(config.tags) == {}


def test_every_field_has_a_default_and_a_one_line_doc():
    lines = inspect.getsource(ClientConfig).splitlines()
    for field in dataclasses.fields(ClientConfig):
        has_default = (
            field.default is not dataclasses.MISSING
            or field.default_factory is not dataclasses.MISSING
        )
        assert has_default, field.name
        declaration = next(
            i for i, line in enumerate(lines) if line.startswith(f"    {field.name}:")
        )
        doc = lines[declaration + 1].strip()
        assert doc.startswith('"""'), field.name
        assert doc.endswith('"""'), field.name


def test_from_mapping_takes_the_seed_init_dict():
    config = ClientConfig.from_mapping(
        {"url": "http://localhost:20800", "access_token": "tok", "defer": False}
    )
    assert config.url == "http://localhost:20800"
    assert config.access_token == "tok"
    assert config.defer is False


def test_unknown_key_names_it_and_suggests_the_close_one():
    with pytest.raises(ConfigurationError, match=r"'acess_token'.*did you mean 'access_token'"):
        ClientConfig.from_mapping({"url": "http://x", "acess_token": "tok"})


def test_tags_are_copied_and_read_only():
    tags = {"env": "prod"}
    config = ClientConfig.from_mapping({"tags": tags})
    tags["env"] = "dev"
    assert config.tags["env"] == "prod"
    with pytest.raises(TypeError):
        config.tags["x"] = "y"  # type: ignore[index]


def test_config_is_frozen():
    config = ClientConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.url = "http://other"  # type: ignore[misc]


def test_repr_never_shows_the_token():
    config = ClientConfig(access_token="very-secret-token")
    assert "very-secret-token" not in repr(config)


def test_replace_validates_again():
    config = ClientConfig()
    assert config.replace(max_batch_events=10).max_batch_events == 10
    with pytest.raises(ConfigurationError):
        config.replace(max_batch_events=0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "ftp://host"}, "url"),
        ({"url": "http://"}, "url"),
        ({"url": "http://host:notaport"}, "port"),
        ({"url": 42}, "url"),
        ({"defer": "yes"}, "defer"),
        ({"access_token": None}, "access_token"),
        ({"max_queue_events": 0}, "max_queue_events"),
        ({"max_batch_bytes": 1.5}, "max_batch_bytes"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_queue_events": True}, "max_queue_events"),
        ({"gzip_level": 10}, "gzip_level"),
        ({"flush_interval_seconds": -1}, "flush_interval_seconds"),
        ({"connect_timeout_seconds": 0}, "connect_timeout_seconds"),
        ({"read_timeout_seconds": float("nan")}, "read_timeout_seconds"),
        ({"drop_policy": "random"}, "drop_policy"),
        ({"max_event_bytes": 100, "max_queue_bytes": 10}, "max_event_bytes"),
        ({"on_error": "print"}, "on_error"),
        ({"transport": object()}, "transport"),
        ({"proxy_url": "https://proxy:3128"}, "proxy_url"),
        ({"tags": {"bad-key": "x"}}, "tags"),
        ({"tags": {"time": "x"}}, "reserved"),
        ({"tags": {"env": 1}}, "tags"),
        ({"tags": ["env"]}, "tags"),
        ({"tags": {"env": "ends\\"}}, "backslash"),
    ],
    ids=[
        "url-scheme",
        "url-no-host",
        "url-port",
        "url-type",
        "bool-type",
        "token-type",
        "int-min",
        "int-type",
        "retries-negative",
        "bool-is-not-int",
        "gzip-level-max",
        "seconds-negative",
        "timeout-zero",
        "timeout-nan",
        "drop-policy",
        "event-over-queue",
        "callback-type",
        "transport-shape",
        "proxy-scheme",
        "tag-key",
        "tag-reserved",
        "tag-value-type",
        "tags-type",
        "tag-backslash",
    ],
)
def test_bad_values_raise_configuration_error(options, message):
    with pytest.raises(ConfigurationError, match=message):
        ClientConfig.from_mapping(options)


def test_configuration_error_is_a_value_error():
    with pytest.raises(ValueError, match="drop_policy"):
        ClientConfig.from_mapping({"drop_policy": "none"})


def test_a_memory_transport_is_accepted():
    transport = MemoryTransport()
    assert ClientConfig.from_mapping({"transport": transport}).transport is transport
