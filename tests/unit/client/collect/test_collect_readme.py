"""README.rst's Collectors section: its YAML is a valid config, its Python source registers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from stats_client.collect import MemoryFetcher, parse_config
from stats_client.collect.sources import build_sources

README = Path(__file__).resolve().parents[4] / "README.rst"


def block(name: str) -> str:
    text = README.read_text(encoding="utf-8")
    part = text[text.index(f".. {name}-start") : text.index(f".. {name}-end")]
    code = part.split("::", 1)[1] if "code-block" not in part else part.split("\n\n", 2)[2]
    return textwrap.dedent(code)


def test_the_yaml_example_is_a_valid_config():
    config = parse_config(block("collect-yaml"), environ={})
    (source,) = build_sources(config, fetcher=MemoryFetcher())
    assert source.name == "tracker"
    assert [m.name for m in source.metrics()] == [
        "tracker_incidents_opened",
        "tracker_open_incidents",
    ]
    assert config.events_enabled is True


def test_the_python_example_registers_its_metrics():
    code = block("collect-python") + textwrap.dedent(
        """
        from stats_client.collect import REGISTRY
        metrics = REGISTRY.get("ci-server").collect_metrics()
        print(sorted((m.metric.name, m.metric.type, m.metric.delta, m.windowed) for m in metrics))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == (
        "[('ci_builds', 'counter', True, False), ('ci_builds_finished', 'gauge', False, True), "
        "('ci_queue_length', 'gauge', False, False)]"
    )
