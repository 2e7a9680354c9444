"""The ``stats-service`` command: serve, manage tokens, set up a development machine.

Tokens are printed alone on stdout (``TOKEN=$(stats-service token create ...)``);
everything meant for people goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

from stats_service.auth import AccessFile, Authenticator, TokenClaims, TokenSigner, parse_duration
from stats_service.auth.access import InvalidAccessFile
from stats_service.auth.keys import generate_secret_key, write_key_file, write_private_file
from stats_service.backends import OUTBOX_FILE, build_queue
from stats_service.delivery.provenance import report_outbox
from stats_service.delivery.queue import DurableQueue
from stats_service.errors import ConfigurationError, StatsServiceError
from stats_service.events.model import format_time, to_flat_dict
from stats_service.legacy_import import add_import_legacy_command
from stats_service.settings import Settings, settings_from_environment
from stats_service.subsystems import SUBSYSTEMS

__all__ = ["main"]

T = TypeVar("T")

_SCOPES = ("write", "read", "admin")
_DEV_IDENTITY = "developer"
_CONFIG_HELP = "INI file with a [stats_service] section (default: $STATS_CONFIG)"
# Options whose value may look like a negative number or duration ("-5d"),
# which argparse would otherwise take for an option of its own.
_SIGNED_OPTIONS = frozenset({"--expires-in", "--port", "--limit"})
_SIGNED_VALUE = re.compile(r"-[0-9]")


class _UsageError(Exception):
    """A bad argument: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with every error as one ``stats-service: …`` line and exit 2."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("stats-service").strip()
        where = f"{command}: " if command else ""
        self.exit(2, f"stats-service: {where}{message} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stats-service`` console script.

    Every error is one ``stats-service: …`` line on stderr: exit 2 for bad
    arguments or configuration, 1 for a file or store that cannot be used.
    """
    parser = _parser()
    args = parser.parse_args(_join_signed_values(sys.argv[1:] if argv is None else argv))
    if not hasattr(args, "command"):
        parser.print_help(sys.stderr)
        return 2
    try:
        settings = settings_from_environment(args.config)
        result: int = args.command(settings, args)
    except _UsageError as exc:
        print(f"stats-service: {exc}", file=sys.stderr)
        return 2
    except ConfigurationError as exc:
        print(f"stats-service: configuration error: {exc.message}", file=sys.stderr)
        return 2
    except InvalidAccessFile as exc:
        print(f"stats-service: the access file cannot be used: {exc}", file=sys.stderr)
        return 1
    except StatsServiceError as exc:
        print(f"stats-service: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"stats-service: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    return result


def _join_signed_values(argv: Sequence[str]) -> list[str]:
    """``--expires-in -5d`` as ``--expires-in=-5d``, so the value reaches its check."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in _SIGNED_OPTIONS and _SIGNED_VALUE.match(arg):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1-65535)")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="stats-service", description="Analytics ingestion service.")
    config = _Parser(add_help=False)
    config.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=_CONFIG_HELP)
    parser.add_argument(
        "--config", type=Path, default=None, help=_CONFIG_HELP + "; may also follow the command"
    )
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", parents=[config], help="serve the HTTP API")
    serve.add_argument("--host", help="bind address (default: setting host)")
    serve.add_argument("--port", type=_port, help="port (default: setting port)")
    serve.set_defaults(command=_serve)

    dev = commands.add_parser(
        "dev-setup",
        parents=[config],
        help="development only: create a secret key, access file and token if absent",
    )
    dev.set_defaults(command=_dev_setup)

    token = commands.add_parser("token", help="manage access tokens").add_subparsers(
        title="token commands", required=True, metavar="{create,list,revoke}"
    )
    create = token.add_parser("create", parents=[config], help="create a token; prints it")
    create.add_argument("--identity", required=True, help="who the token is for")
    create.add_argument(
        "--scope",
        action="append",
        choices=_SCOPES,
        help="write (ingest), read (fetch/query), admin (both); repeatable; default write",
    )
    create.add_argument("--expires-in", help="lifetime such as 90d, 12h, 30m (default: never)")
    create.set_defaults(command=_token_create)
    listing = token.add_parser("list", parents=[config], help="list token ids (never tokens)")
    listing.set_defaults(command=_token_list)
    revoke = token.add_parser("revoke", parents=[config], help="revoke a token by its id")
    revoke.add_argument("token_id")
    revoke.set_defaults(command=_token_revoke)
    add_import_legacy_command(token, [config])

    forward = commands.add_parser(
        "forward",
        parents=[config],
        help="forward the Kafka topic to the storage backend (one consumer-group member)",
    )
    forward.set_defaults(command=_forward)

    outbox = commands.add_parser(
        "outbox", help="the durable outbox of the influxdb backends"
    ).add_subparsers(title="outbox commands", required=True, metavar="{status}")
    status = outbox.add_parser(
        "status", parents=[config], help="depth, age, forward rate and last error"
    )
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(command=_outbox_status)

    dead = commands.add_parser(
        "deadletter", help="events InfluxDB refused, with its reasons"
    ).add_subparsers(title="deadletter commands", required=True, metavar="{list,replay}")
    dead_list = dead.add_parser("list", parents=[config], help="one JSON line per dead letter")
    dead_list.add_argument(
        "--limit", type=_positive_int, default=100, help="most to list (default 100)"
    )
    dead_list.set_defaults(command=_deadletter_list)
    replay = dead.add_parser(
        "replay", parents=[config], help="queue dead letters for delivery again"
    )
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every dead letter")
    which.add_argument("event_ids", nargs="*", default=[], help="these events only")
    replay.set_defaults(command=_deadletter_replay)
    for spec in SUBSYSTEMS:
        if spec.add_commands is not None:
            spec.add_commands(commands, [config])
    return parser


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415 - only the serve command needs the server

    from stats_service.api.protocols import JsonErrorsProtocol  # noqa: PLC0415
    from stats_service.app import create_app  # noqa: PLC0415
    from stats_service.observability import configure_logging  # noqa: PLC0415

    configure_logging(
        log_format=settings.log_format,
        level=settings.log_level,
        secrets_to_hide=settings.signing_keys(),
    )
    app = create_app(settings)
    uvicorn.run(
        app,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # configure_logging above owns the log format
        access_log=False,  # the request middleware writes the access line
        server_header=False,
        http=JsonErrorsProtocol,  # malformed HTTP gets the JSON error body too
        # open streams never end by themselves: without a bound, shutdown would wait for them
        timeout_graceful_shutdown=max(1, round(settings.stream_close_timeout_seconds)),
    )
    return 0


def _forward(settings: Settings, args: argparse.Namespace) -> int:
    from stats_service.forwarding import run_forwarder  # noqa: PLC0415 - only this command
    from stats_service.observability import configure_logging  # noqa: PLC0415

    configure_logging(log_format=settings.log_format, level=settings.log_level)
    asyncio.run(run_forwarder(settings))
    return 0


def _access(settings: Settings) -> AccessFile:
    return AccessFile(settings.resolved_access_file)


def _token_create(settings: Settings, args: argparse.Namespace) -> int:
    keys = settings.check_serving()
    now = int(time.time())
    lifetime = None
    if args.expires_in is not None:
        if args.expires_in.strip().startswith("-"):
            raise _UsageError(
                f"--expires-in: {args.expires_in!r} is negative; "
                "a lifetime is positive, such as 90d, 12h or 30m"
            )
        try:
            lifetime = parse_duration(args.expires_in)
        except ValueError as exc:
            raise _UsageError(f"--expires-in: {exc}") from None
    print(
        _issue(
            settings,
            keys=keys,
            identity=args.identity,
            scopes=args.scope or ["write"],
            lifetime=lifetime,
            now=now,
        )
    )
    return 0


def _issue(
    settings: Settings,
    *,
    keys: Sequence[str],
    identity: str,
    scopes: Sequence[str],
    lifetime: int | None,
    now: int,
) -> str:
    expires_at = now + lifetime if lifetime is not None else None
    try:
        record = _access(settings).add(identity, scopes, expires_at=expires_at, now=now)
    except InvalidAccessFile:
        raise
    except ValueError as exc:  # the identity, scopes or expiry the access file refuses
        raise _UsageError(f"token create: {exc}") from None
    claims = TokenClaims(
        identity=record.identity,
        token_id=record.token_id,
        scopes=record.scopes,
        issued_at=now,
        expires_at=expires_at,
    )
    print(
        f"created token {record.token_id} for {identity!r} with scopes "
        f"{', '.join(sorted(record.scopes))}",
        file=sys.stderr,
    )
    return TokenSigner(keys).issue(claims)


def _token_list(settings: Settings, _: argparse.Namespace) -> int:
    rows = [("TOKEN ID", "IDENTITY", "SCOPES", "CREATED", "EXPIRES", "REVOKED")]
    rows += [
        (
            r.token_id,
            r.identity,
            ",".join(sorted(r.scopes)),
            _when(r.created_at),
            _when(r.expires_at),
            _when(r.revoked_at),
        )
        for r in _access(settings).records()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _when(epoch: int | None) -> str:
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _token_revoke(settings: Settings, args: argparse.Namespace) -> int:
    try:
        record = _access(settings).revoke(args.token_id, now=int(time.time()))
    except KeyError:
        print(f"stats-service: no token with id {args.token_id!r}", file=sys.stderr)
        return 1
    print(f"revoked {record.token_id} ({record.identity})", file=sys.stderr)
    return 0


def _dev_setup(settings: Settings, _: argparse.Namespace) -> int:
    """Idempotent: make what is missing, then print a working token."""
    if not settings.development_mode:
        raise ConfigurationError("dev-setup only runs with development_mode = true")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not settings.signing_keys():
        key_file = settings.resolved_secret_key_file
        write_key_file(key_file, [generate_secret_key(development=True)])
        print(f"wrote a development secret key to {key_file}", file=sys.stderr)
    keys = settings.check_serving()
    token_file = settings.data_dir / "dev-token"
    token = _usable_token(settings, keys, token_file)
    if token is None:
        token = _issue(
            settings,
            keys=keys,
            identity=_DEV_IDENTITY,
            scopes=["write", "read"],
            lifetime=None,
            now=int(time.time()),
        )
        write_private_file(token_file, (token + "\n").encode())
    print(
        f"development token (also in {token_file}); use it as\n"
        f'  curl -H "Authorization: Token $(cat {token_file})" ...',
        file=sys.stderr,
    )
    print(token)
    return 0


def _usable_token(settings: Settings, keys: Sequence[str], path: Path) -> str | None:
    if not path.exists():
        return None
    token = path.read_text(encoding="utf-8").strip()
    authenticator = Authenticator(TokenSigner(keys), _access(settings))
    try:
        principal = authenticator.authenticate(f"Token {token}")
    except StatsServiceError:
        return None
    return token if {"read", "write"} <= principal.scopes else None


def _with_queue(settings: Settings, work: Callable[[DurableQueue], Awaitable[T]]) -> T:
    """Run ``work`` on the existing queue of ``settings`` (safe while the service runs)."""

    async def run() -> T:
        queue = build_queue(settings, existing_only=True)
        try:
            await queue.start()
        except FileNotFoundError as exc:
            raise ConfigurationError(
                f"{exc}: it exists once the service has run with an influxdb backend"
            ) from None
        except sqlite3.Error as exc:
            path = settings.data_dir / OUTBOX_FILE
            raise OSError(0, f"the outbox cannot be read ({exc})", str(path)) from None
        try:
            return await work(queue)
        finally:
            await queue.stop()

    return asyncio.run(run())


def _outbox_status(settings: Settings, args: argparse.Namespace) -> int:
    report = _with_queue(settings, lambda queue: report_outbox(queue, settings.storage_backend))
    warning = report.warning()
    if warning is not None:
        print(f"stats-service: warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.as_dict(), sort_keys=True))
        return 0
    for key, value in report.as_dict().items():
        print(f"{key:34} {'-' if value is None else value}")
    return 0


def _deadletter_list(settings: Settings, args: argparse.Namespace) -> int:
    letters = _with_queue(settings, lambda queue: queue.deadletters(args.limit))
    for letter in letters:
        line = {
            **to_flat_dict(letter.event),
            "reason": letter.reason,
            "status": letter.status,
            "dead_lettered_at": format_time(letter.dead_lettered_ns),
        }
        print(json.dumps(line, sort_keys=True, ensure_ascii=False))
    return 0


def _deadletter_replay(settings: Settings, args: argparse.Namespace) -> int:
    if not args.all and not args.event_ids:
        raise ConfigurationError("name the events to replay, or pass --all")
    count = _with_queue(settings, lambda queue: queue.replay(None if args.all else args.event_ids))
    print(f"queued {count} dead letter(s) for delivery", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
