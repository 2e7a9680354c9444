"""The probe's settings: flags, ``STATS_PROBE_*`` environment variables, defaults."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["ENV_PREFIX", "ProbeConfig", "add_arguments", "config_from"]

ENV_PREFIX = "STATS_PROBE_"


@dataclass(frozen=True, slots=True)
class ProbeConfig:
    """One probe run; each field is a flag ``--name-with-dashes`` and ``STATS_PROBE_NAME``."""

    url: str = field(default="http://127.0.0.1:8080", metadata={"doc": "The service's base URL."})
    token: str = field(
        default="", repr=False, metadata={"doc": "A token with the read and write scopes."}
    )
    stream_url: str = field(
        default="", metadata={"doc": "Where to listen, when not at ``url`` (e.g. past a proxy)."}
    )
    interval_seconds: float = field(default=10.0, metadata={"doc": "Time between probe events."})
    post_retries: int = field(default=2, metadata={"doc": "Retries of one failed post."})
    post_timeout_seconds: float = field(
        default=5.0, metadata={"doc": "Time limit of one post, retries included."}
    )
    confirm_after_seconds: float = field(
        default=30.0, metadata={"doc": "Fetch an event the stream has not delivered by then."}
    )
    mark_lost_after_seconds: float = field(
        default=300.0, metadata={"doc": "An event not received by then counts as lost (once)."}
    )
    purge_after_seconds: float = field(
        default=900.0, metadata={"doc": "Forget an event this long after it was sent."}
    )
    tick_seconds: float = field(
        default=1.0, metadata={"doc": "How often losses and missing shares are recomputed."}
    )
    reconnect_max_seconds: float = field(
        default=30.0, metadata={"doc": "Cap of the listener's jittered reconnect backoff."}
    )
    metrics_host: str = field(default="0.0.0.0", metadata={"doc": "Metrics address."})  # noqa: S104 -- a scrape target listens on all interfaces by default
    metrics_port: int = field(default=8000, metadata={"doc": "Metrics port (0: off)."})
    event: str = field(default="stats.probe", metadata={"doc": "Event name of probe events."})

    @property
    def listen_url(self) -> str:
        """The base URL the stream is read from."""
        return self.stream_url or self.url


def _env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per field; an unset flag leaves the environment's value or the default."""
    for item in dataclasses.fields(ProbeConfig):
        parser.add_argument(
            "--" + item.name.replace("_", "-"),
            dest=item.name,
            default=None,
            help=f"{item.metadata['doc']} Env {_env_name(item.name)}.",
        )


def _convert(kind: object, text: str) -> object:
    if kind in (float, "float"):
        return float(text)
    if kind in (int, "int"):
        return int(text)
    return text


def config_from(
    args: argparse.Namespace | None = None, environ: Mapping[str, str] | None = None
) -> ProbeConfig:
    """Flags over ``STATS_PROBE_*`` over defaults."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for item in dataclasses.fields(ProbeConfig):
        text = getattr(args, item.name, None) if args is not None else None
        if text is None:
            text = env.get(_env_name(item.name))
        if text is not None:
            values[item.name] = _convert(item.type, str(text))
    config = ProbeConfig(**values)  # type: ignore[arg-type]
    if config.interval_seconds <= 0:
        raise ValueError("interval_seconds must be positive")
    return config


def field_docs() -> Sequence[tuple[str, str, str]]:
    """``(env name, default, doc)`` of every field, for the README table."""
    return [
        (_env_name(item.name), str(item.default), str(item.metadata["doc"]))
        for item in dataclasses.fields(ProbeConfig)
    ]
