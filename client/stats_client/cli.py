"""The ``stats-client`` command: ``ping``, ``log`` and ``get`` against a stats-service.

The URL and token come from ``--url`` / ``--token`` or, when those are absent,
from the ``STATS_URL`` / ``STATS_TOKEN`` environment variables.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from stats_client.analytics import Analytics
from stats_client.exceptions import StatsClientError

__all__ = ["build_parser", "main", "parse_pairs"]

DEFAULT_URL = "http://127.0.0.1:20080"


def parse_pairs(pairs: Sequence[str], *, raw: bool = False) -> dict[str, Any]:
    """``key=value`` pairs as a dict; a value that parses as JSON is taken as JSON.

    So ``n=3`` is the int 3, ``ok=true`` the bool, ``who=oisin`` the string, and
    ``code='"007"'`` the string ``007``. With ``raw`` every value stays a string.
    """
    data: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected key=value, got {pair!r}")
        if raw:
            data[key] = text
            continue
        try:
            data[key] = json.loads(text)
        except ValueError:
            data[key] = text
    return data


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    """The argument parser; option defaults come from ``environ``."""
    parser = argparse.ArgumentParser(
        prog="stats-client", description="Talk to a stats-service from the command line."
    )
    parser.add_argument(
        "--url",
        default=environ.get("STATS_URL", DEFAULT_URL),
        help="service base URL (default: $STATS_URL or %(default)s)",
    )
    parser.add_argument(
        "--token",
        default=environ.get("STATS_TOKEN", ""),
        help="access token (default: $STATS_TOKEN)",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait in total (default: 10)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("ping", help="check that the service answers; print its version")
    log = commands.add_parser("log", help="log one event and print its id")
    log.add_argument("--event", required=True, help="event name, e.g. pnc.user.login")
    log.add_argument("--uid", default="", help="user or session id (may be empty)")
    log.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="a tag")
    log.add_argument("data", nargs="*", metavar="KEY=VALUE", help="data (JSON values allowed)")
    get = commands.add_parser("get", help="print a stored event as JSON")
    get.add_argument("event_id", help="the event id, e.g. entry_<32 hex>")
    return parser


def _run(args: argparse.Namespace) -> Any:
    client = Analytics(
        url=args.url,
        access_token=args.token,
        defer=False,
        strict=True,
        sync_timeout_seconds=args.timeout,
        read_timeout_seconds=args.timeout,
        max_retries=2,
        flush_at_exit=False,
    )
    with client:
        if args.command == "ping":
            return client.ping()
        if args.command == "get":
            return client.get(args.event_id)
        tags = parse_pairs(args.tag, raw=True)
        event = {"event": args.event, "uid": args.uid, **parse_pairs(args.data)}
        if tags:
            event["tags"] = tags
        return client.log(event)


def main(argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None) -> int:
    """Run the command: 0 on success, 1 when the service or the network failed.

    Usage errors (bad options, ``key=value`` pairs or event) exit with status 2.
    """
    parser = build_parser(os.environ if environ is None else environ)
    args = parser.parse_args(argv)
    try:
        result = _run(args)
    except ValueError as exc:  # bad key=value, bad option, invalid event: a usage error
        parser.error(str(exc))
    except StatsClientError as exc:
        print(f"stats-client: {exc}", file=sys.stderr)
        return 1
    if isinstance(result, str):
        print(result)
    else:
        print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
