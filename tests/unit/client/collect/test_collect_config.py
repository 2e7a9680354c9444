"""The config file: defaults, ${ENV} expansion, and errors naming the key and the line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from stats_client.collect import ConfigError, HttpSourceConfig, PythonSourceConfig, parse_config

GOOD = """\
prometheus:
  port: 9200
events:
  enabled: true
  url: http://127.0.0.1:20080
  access_token: ${STATS_TOKEN}
state_file: state/collect.json
sources:
  - name: tracker
    url: ${TRACKER_URL:-http://127.0.0.1:8000}/summary
    headers:
      Authorization: Bearer ${TRACKER_TOKEN}
    interval_seconds: 30
    metrics:
      - name: open_incidents
        type: gauge
        help: Open incidents
        path: $.teams[*].stacks
        labels: {team: ^.name, env: env}
        value: open
      - name: incidents_total
        type: counter
        path: $.total
        delta: true
  - name: billing
    python: billing.py
    options:
      key: ${BILLING_KEY}
"""
ENV = {"STATS_TOKEN": "tok-1", "TRACKER_TOKEN": "secret-2", "BILLING_KEY": "secret-3"}


def parse(text: str, environ: dict[str, str] | None = None):
    return parse_config(textwrap.dedent(text), environ=ENV if environ is None else environ)


def test_a_good_file_is_read_with_defaults():
    config = parse_config(GOOD, environ=ENV, base_dir=Path("/etc/collect"))
    assert config.prometheus_port == 9200
    assert config.prometheus_host == "127.0.0.1"
    assert config.events_enabled is True
    assert config.events_access_token == "tok-1"
    assert config.state_file == Path("/etc/collect/state/collect.json")
    assert config.max_window_days == 28.0
    tracker, billing = config.sources
    assert isinstance(tracker, HttpSourceConfig)
    assert tracker.url == "http://127.0.0.1:8000/summary"
    assert tracker.headers == {"Authorization": "Bearer secret-2"}
    assert tracker.interval_seconds == 30.0
    assert tracker.jitter_ratio == 0.1
    assert tracker.timeout_seconds == 10.0
    gauge, counter = tracker.metrics
    assert gauge.metric.label_names == ("team", "env")
    assert gauge.labels[0].up == 1
    assert counter.metric.delta is True
    assert counter.metric.help == "incidents total"
    assert isinstance(billing, PythonSourceConfig)
    assert billing.collector == "billing"
    assert billing.module == "billing.py"
    assert billing.options == {"key": "secret-3"}


def test_secrets_stay_out_of_reprs():
    config = parse_config(GOOD, environ=ENV)
    text = repr(config)
    for secret in ("tok-1", "secret-2", "secret-3"):
        assert secret not in text


def test_defaults_when_the_file_is_nearly_empty():
    config = parse("sources: []\n")
    assert config.sources == ()
    assert config.prometheus_enabled is True
    assert config.prometheus_port == 9108
    assert config.events_enabled is False
    assert config.state_file is None


@pytest.mark.parametrize(
    ("edit", "key", "line"),
    [
        (("type: gauge", "type: gauges"), "sources[0].metrics[0].type", 16),
        (("path: $.total", "path: $.[[["), "sources[0].metrics[1].path", 23),
        (("interval_seconds: 30", "interval_seconds: -1"), "sources[0].interval_seconds", 13),
        (("interval_seconds: 30", "interval: 30"), "sources[0].interval", 13),
        (("{team: ^.name, env: env}", "{tea-m: ^.name}"), "sources[0].metrics[0].labels.tea-m", 19),
        (("{team: ^.name, env: env}", "{value: v}"), "sources[0].metrics[0].labels.value", 19),
        (("delta: true", "delta: yes please"), "sources[0].metrics[1].delta", 24),
        (("  port: 9200", "  port: 99999"), "prometheus.port", 2),
        (("name: billing", "name: tracker"), "sources[1].name", 25),
        (
            ("url: ${TRACKER_URL:-http://127.0.0.1:8000}/summary", "url: ftp://x"),
            "sources[0].url",
            10,
        ),
    ],
    ids=[
        "bad-type",
        "bad-jsonpath",
        "negative-interval",
        "unknown-key",
        "bad-label-name",
        "reserved-label",
        "not-a-bool",
        "bad-port",
        "duplicate-source",
        "bad-url",
    ],
)
def test_errors_name_the_key_and_the_line(edit, key, line):
    text = GOOD.replace(*edit)
    with pytest.raises(ConfigError) as caught:
        parse_config(text, environ=ENV)
    assert caught.value.key == key
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{key} (line {line}): ")


def test_an_unset_environment_variable_is_named_but_not_its_neighbours():
    with pytest.raises(ConfigError) as caught:
        parse_config(GOOD, environ={"STATS_TOKEN": "tok-1", "BILLING_KEY": "k"})
    assert caught.value.key == "sources[0].headers.Authorization"
    assert "TRACKER_TOKEN is not set" in str(caught.value)
    assert "tok-1" not in str(caught.value)


def test_unknown_keys_get_a_suggestion():
    with pytest.raises(ConfigError, match=r"did you mean 'interval_seconds'"):
        parse("sources:\n  - name: a\n    url: http://x\n    intervall_seconds: 3\n")


def test_missing_required_keys():
    with pytest.raises(ConfigError, match=r"^sources\[0\]\.metrics \(line 2\): is required"):
        parse("sources:\n  - name: a\n    url: http://x\n")
    with pytest.raises(ConfigError, match=r"sources\[0\]\.metrics\[0\]\.path.*is required"):
        parse("sources:\n- name: a\n  url: http://x\n  metrics:\n  - {name: m, type: gauge}\n")


def test_yaml_syntax_errors_and_duplicate_keys_have_lines():
    with pytest.raises(ConfigError) as caught:
        parse("sources:\n  - name: a\n    url: [unclosed\n")
    assert caught.value.line is not None
    assert "not valid YAML" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        parse("prometheus:\n  port: 1\n  port: 2\n")
    assert (caught.value.key, caught.value.line) == ("prometheus.port", 3)


def test_delta_and_buckets_only_where_they_make_sense():
    base = "sources:\n- name: a\n  url: http://x\n  metrics:\n  - {name: m, path: $.x, "
    with pytest.raises(ConfigError, match="only a counter can be a delta"):
        parse(base + "type: gauge, delta: true}\n")
    with pytest.raises(ConfigError, match="only a histogram has buckets"):
        parse(base + "type: gauge, buckets: [1, 2]}\n")
    with pytest.raises(ConfigError, match="strictly increasing"):
        parse(base + "type: histogram, buckets: [2, 1]}\n")
    config = parse(base + "type: histogram, buckets: [1, 2.5]}\n")
    assert config.sources[0].metrics[0].metric.buckets == (1.0, 2.5)


def test_the_runner_s_own_metric_names_are_refused():
    text = "sources:\n- name: a\n  url: http://x\n  metrics:\n"
    text += "  - {name: collector_up, type: gauge, path: $.x}\n"
    with pytest.raises(ConfigError, match="runner's own metrics"):
        parse(text)


def test_a_metric_defined_twice_in_one_source():
    text = (
        "sources:\n- name: a\n  url: http://x\n  metrics:\n"
        "  - {name: m, type: gauge, path: $.x}\n  - {name: m, type: gauge, path: $.y}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert caught.value.key == "sources[0].metrics[1].name"
