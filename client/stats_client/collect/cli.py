"""The ``stats-collect`` command.

::

    stats-collect --config collectors.yaml [-s NAME ...]     # run: /metrics + events
    stats-collect --config collectors.yaml --once --dry-run  # poll once, print, send nothing
    stats-collect check --config collectors.yaml             # validate the file only

Exit status: 0 when every source polled cleanly, 1 when one failed (with
``--once``), 2 for a bad config file or bad options.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO

from stats_client.collect.app import CollectorApp, Parts
from stats_client.collect.config import CollectConfig, load_config
from stats_client.collect.errors import CollectError
from stats_client.collect.events import PrintSink
from stats_client.collect.runner import PollOutcome
from stats_client.collect.sources import build_sources
from stats_client.collect.state import FileStateStore, MemoryStateStore

__all__ = ["build_parser", "main"]

logger = logging.getLogger("stats_client.collect")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``stats-collect`` (``check`` is a separate parser, see ``main``)."""
    parser = argparse.ArgumentParser(
        prog="stats-collect",
        description="Poll third-party APIs into Prometheus metrics and stats-service events.",
        epilog="`stats-collect check --config FILE` validates a config file and exits.",
    )
    parser.add_argument("--config", type=Path, help="YAML file of sources and outputs")
    parser.add_argument(
        "-s",
        "--source",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this source (repeatable); a Python source may come from the registry",
    )
    parser.add_argument("--once", action="store_true", help="poll every source once and exit")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="with --once: print the Prometheus text and the events; send and save nothing",
    )
    parser.add_argument("--no-prometheus", action="store_true", help="do not serve /metrics")
    parser.add_argument("--no-events", action="store_true", help="do not ship events")
    parser.add_argument("--host", help="address /metrics binds to (default from the config)")
    parser.add_argument("--port", type=int, help="port of /metrics (default from the config)")
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    return parser


def _check(argv: Sequence[str], environ: Mapping[str, str], out: IO[str]) -> int:
    parser = argparse.ArgumentParser(prog="stats-collect check", description="Validate a config.")
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, environ=environ)
        sources = build_sources(config, fetcher=_NoFetch())
    except CollectError as exc:
        print(f"stats-collect: {args.config}: {exc}", file=sys.stderr)
        return 2
    names = ", ".join(s.name for s in sources) or "none"
    print(f"{args.config}: ok ({len(sources)} sources: {names})", file=out)
    return 0


class _NoFetch:
    """A fetcher for ``check``: building sources must never call an upstream."""

    def fetch_json(self, request: object) -> object:
        raise AssertionError("check does not poll")

    def close(self) -> None:
        return None


def _apply_flags(config: CollectConfig, args: argparse.Namespace) -> CollectConfig:
    return dataclasses.replace(
        config,
        prometheus_enabled=config.prometheus_enabled and not (args.no_prometheus or args.dry_run),
        events_enabled=config.events_enabled and not (args.no_events or args.dry_run),
        prometheus_host=args.host or config.prometheus_host,
        prometheus_port=config.prometheus_port if args.port is None else args.port,
    )


def _summary(outcomes: Sequence[PollOutcome]) -> int:
    failed = 0
    for outcome in outcomes:
        if outcome.ok:
            continue
        failed += 1
        for error in outcome.errors:
            print(
                f"stats-collect: {outcome.source}: {error.reason}: {error.message}", file=sys.stderr
            )
    return 1 if failed else 0


def _dry_run(config: CollectConfig, selected: Sequence[str], out: IO[str]) -> int:
    saved = FileStateStore(config.state_file).load() if config.state_file else {}
    events = io.StringIO()
    parts = Parts(sink=PrintSink(events), state=MemoryStateStore(saved), selected=selected)
    app = CollectorApp(config, parts)
    try:
        outcomes = app.run_once()
        out.write("# Prometheus exposition\n")
        out.write(app.exposition().decode())
        out.write("# events\n")
        out.write(events.getvalue())
    finally:
        app.stop()
    return _summary(outcomes)


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    out: IO[str] | None = None,
) -> int:
    """Run ``stats-collect``; the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    environ = os.environ if environ is None else environ
    out = out or sys.stdout
    if argv[:1] == ["check"]:
        return _check(argv[1:], environ, out)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.dry_run and not args.once:
        parser.error("--dry-run needs --once")
    if args.config is None and not args.source:
        parser.error("give --config FILE, or -s NAME for a registered Python source")
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL at INFO; a URL may carry a credential in its query.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.root.level))
    try:
        config = (
            load_config(args.config, environ=environ)
            if args.config is not None
            else CollectConfig()
        )
        config = _apply_flags(config, args)
        if args.dry_run:
            return _dry_run(config, args.source, out)
        app = CollectorApp(config, Parts(selected=args.source))
    except CollectError as exc:
        print(f"stats-collect: {exc}", file=sys.stderr)
        return 2
    if args.once:
        try:
            return _summary(app.run_once())
        finally:
            app.stop()
    return _serve(app)


def _serve(app: CollectorApp) -> int:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        app.request_stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        app.start()
        names = ", ".join(s.name for s in app.runner.sources)
        logger.info("polling %s", names or "no sources")
        while not app.wait(1.0):
            pass
    except OSError as exc:
        print(f"stats-collect: cannot serve /metrics: {exc}", file=sys.stderr)
        return 2
    finally:
        app.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
