"""``stats-probe``: the probe (``stats-probe [run]``) or the local demo (``stats-probe demo``)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, start_http_server

from stats_client.probe.config import add_arguments, config_from
from stats_client.probe.demo import run_demo
from stats_client.probe.metrics import ProbeMetrics
from stats_client.probe.runner import Probe

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stats-probe", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="Probe a service (the default).")
    add_arguments(run)
    demo = commands.add_parser("demo", help="A local service, the fault proxy and the probe.")
    demo.add_argument("--every", type=float, default=5.0, help="Seconds between tables.")
    demo.add_argument("--seconds", type=float, default=0.0, help="Stop after (0: never).")
    demo.add_argument("--drop-share", type=float, default=0.05)
    demo.add_argument("--delay-share", type=float, default=0.2)
    demo.add_argument("--delay-seconds", type=float, default=0.5)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The console script."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0].startswith("-"):
        arguments.insert(0, "run")
    args = _parser().parse_args(arguments)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.command == "demo":
        return run_demo(
            every_seconds=args.every,
            seconds=args.seconds,
            drop_share=args.drop_share,
            delay_share=args.delay_share,
            delay_seconds=args.delay_seconds,
        )
    try:
        config = config_from(args)
    except ValueError as exc:
        sys.stderr.write(f"stats-probe: {exc}\n")
        return 2
    registry = CollectorRegistry()
    probe = Probe(config, ProbeMetrics(registry))
    if config.metrics_port:
        start_http_server(config.metrics_port, addr=config.metrics_host, registry=registry)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    probe.start()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        probe.stop()
    return 0
