"""YAML read into plain Python values, with the line of every key kept for error messages.

Keys are dotted paths with list indexes, as a reader would name them:
``sources[0].metrics[2].type``. A duplicate key or a YAML syntax error is a
:class:`~stats_client.collect.errors.ConfigError` with its line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from stats_client.collect.errors import ConfigError

__all__ = ["Document", "child_key", "read_yaml"]


def child_key(parent: str, name: str | int) -> str:
    """The key of ``name`` (a mapping key or a list index) under ``parent``."""
    if isinstance(name, int):
        return f"{parent}[{name}]"
    return f"{parent}.{name}" if parent else name


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed YAML document and the 1-based line of each key in it."""

    value: Any
    lines: dict[str, int] = field(default_factory=dict)

    def line(self, key: str) -> int | None:
        """The line of ``key``, or of its nearest parent that has one."""
        while key:
            if key in self.lines:
                return self.lines[key]
            cut = max(key.rfind("."), key.rfind("["))
            key = key[:cut] if cut > 0 else ""
        return None

    def error(self, key: str, message: str) -> ConfigError:
        """A ConfigError about ``key``, with its line."""
        return ConfigError(message, key=key, line=self.line(key))


def read_yaml(text: str) -> Document:
    """Parse one YAML document (an empty one is ``{}``)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[str, int] = {}
        value = {} if node is None else _convert(loader, node, "", lines)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"not valid YAML: {exc.problem or exc}", line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    return Document(value, lines)


def _convert(loader: yaml.SafeLoader, node: yaml.Node, key: str, lines: dict[str, int]) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            name = loader.construct_object(key_node, deep=True)
            if not isinstance(name, str):
                raise ConfigError(f"keys must be strings, not {name!r}", key=key, line=line)
            sub = child_key(key, name)
            if name in out:
                raise ConfigError("duplicate key", key=sub, line=line)
            lines[sub] = line
            out[name] = _convert(loader, value_node, sub, lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            sub = child_key(key, index)
            lines[sub] = item.start_mark.line + 1
            items.append(_convert(loader, item, sub, lines))
        return items
    return loader.construct_object(node, deep=True)
