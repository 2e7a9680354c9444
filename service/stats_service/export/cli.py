"""The ``stats-service export`` commands: run, status, verify, report.

:func:`register` adds the group to the main parser. This module imports only
the standard library and the service core; pandas, openpyxl and boto3 are
imported by the commands that need them, so ``stats-service serve`` never
loads them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stats_service.errors import ConfigurationError
from stats_service.export.errors import ExportError, WindowError
from stats_service.export.window import Window, iso, parse_instant, this_day
from stats_service.settings import Settings

__all__ = ["register"]

# Heavy modules load when their command runs.
# ruff: noqa: PLC0415


_EXTRA_MODULES = frozenset({"pandas", "pyarrow", "openpyxl", "boto3", "botocore", "numpy"})


def _guarded(command: Callable[[Settings, argparse.Namespace], int]) -> Callable[..., int]:
    """``command`` with a missing extra or a local file error as one clear ExportError."""

    @functools.wraps(command)
    def run(settings: Settings, args: argparse.Namespace) -> int:
        try:
            return command(settings, args)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.split(".")[0] in _EXTRA_MODULES:
                raise ExportError(
                    f"{exc.name} is not installed: pip install 'stats-service[export]'"
                ) from None
            raise
        except OSError as exc:
            raise ExportError(f"{exc.filename or 'a file'}: {exc.strerror or exc}") from None

    return run


def register(commands: Any, config: argparse.ArgumentParser) -> None:
    """Add ``export run|status|verify|report`` to the ``stats-service`` subcommands."""
    group = commands.add_parser(
        "export", help="export windows of events as packages, rollups and reports"
    ).add_subparsers(title="export commands")

    run = group.add_parser(
        "run", parents=[config], help="package a window of events into a storage target"
    )
    _target(run, "--to")
    _window(run)
    run.add_argument(
        "--first-since",
        help="without --since: where a job with no watermark yet starts (default: refuse)",
    )
    run.add_argument("--measurement", help="only this measurement (default: all)")
    run.add_argument("--max-package-bytes", type=int, help="override export_max_package_bytes")
    run.add_argument("--max-file-bytes", type=int, help="override export_max_file_bytes")
    run.add_argument("--json", action="store_true", help="print the run summary as JSON")
    run.set_defaults(command=_guarded(_run))

    status = group.add_parser("status", parents=[config], help="the job's watermark and last run")
    _target(status, "--to")
    status.set_defaults(command=_guarded(_status))

    verify = group.add_parser(
        "verify", parents=[config], help="check stored packages against their manifests"
    )
    _target(verify, "--from")
    _window(verify)
    verify.set_defaults(command=_guarded(_verify))

    report = group.add_parser(
        "report", parents=[config], help="roll stored packages up into XLSX, CSV and JSON"
    )
    _target(report, "--from")
    _window(report)
    report.add_argument("--out", type=Path, required=True, help="the XLSX file to write")
    report.add_argument("--csv", type=Path, help="also write each rollup as CSV into this dir")
    report.add_argument("--json-dir", type=Path, help="also write each rollup as JSON here")
    report.add_argument(
        "--store-rollups",
        action="store_true",
        help="keep each window's rollup as parquet under rollups/ in the target",
    )
    report.set_defaults(command=_guarded(_report))


def _target(parser: argparse.ArgumentParser, flag: str) -> None:
    parser.add_argument(
        flag,
        dest="target",
        help="dir:/path or s3://bucket/prefix (default: setting export_target)",
    )
    parser.add_argument("--job", help="export job name (default: setting export_job)")


def _window(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since", help="window start, included: 2026-11-01 or ISO 8601 with an offset"
    )
    parser.add_argument("--until", help="window end, excluded (default for run: today 00:00 UTC)")


def _job(settings: Settings, args: argparse.Namespace) -> str:
    from stats_service.export.state import check_job_name

    return check_job_name(args.job or settings.export_job)


def _storage(settings: Settings, args: argparse.Namespace) -> Any:
    from stats_service.export.storage import open_storage

    target = args.target or settings.export_target
    if not target:
        raise ConfigurationError("no export target: pass --to/--from or set export_target")
    return open_storage(target, settings)


def _explicit_window(settings: Settings, args: argparse.Namespace) -> Window | None:
    if args.since is None and args.until is None:
        return None
    if args.since is None or args.until is None:
        raise WindowError("pass both --since and --until, or neither")
    return Window.checked(
        parse_instant(args.since),
        parse_instant(args.until),
        max_days=settings.export_max_window_days,
    )


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from stats_service.backends import build_store
    from stats_service.export.package import PackageLimits
    from stats_service.export.progress import Progress
    from stats_service.export.run import run_export
    from stats_service.export.state import read_state

    job = _job(settings, args)
    storage = _storage(settings, args)
    if args.since is None:
        mark = read_state(storage, job).watermark
        if mark is None and args.first_since is None:
            raise WindowError(
                f"export job {job!r} has no watermark yet: pass --since or --first-since"
            )
        since = mark if mark is not None else parse_instant(args.first_since)
    else:
        since = parse_instant(args.since)
    until = parse_instant(args.until) if args.until else this_day(dt.datetime.now(dt.UTC))
    window = Window.checked(since, until, max_days=settings.export_max_window_days)
    limits = PackageLimits(
        max_package_bytes=args.max_package_bytes or settings.export_max_package_bytes,
        max_file_bytes=args.max_file_bytes or settings.export_max_file_bytes,
    )
    progress = Progress(sys.stderr, window)
    progress.done(f"export {job}: {window.label()} to {storage.describe()}")

    async def go() -> Any:
        store = build_store(settings)
        await store.open()
        try:
            return await run_export(
                store=store,
                storage=storage,
                settings=settings,
                window=window,
                job=job,
                measurement=args.measurement,
                limits=limits,
                progress=progress,
            )
        finally:
            await store.close()

    result = asyncio.run(go())
    progress.done(
        f"export {job}: {result.events:,} events in {len(result.packages)} package(s) "
        f"in {result.seconds:.1f} s; watermark {iso(result.watermark)}"
    )
    if args.json:
        print(json.dumps(result.as_dict(), sort_keys=True))
    return 0


def _status(settings: Settings, args: argparse.Namespace) -> int:
    from stats_service.export.state import read_state

    state = read_state(_storage(settings, args), _job(settings, args))
    print(json.dumps(state.as_dict(), sort_keys=True, indent=2))
    return 0


def _selected(settings: Settings, args: argparse.Namespace) -> tuple[Any, str, list[str]]:
    from stats_service.export.run import package_names, package_window

    storage = _storage(settings, args)
    job = _job(settings, args)
    window = _explicit_window(settings, args)
    names = []
    for name in package_names(storage, job):
        inner = package_window(job, name)
        if inner is None:
            continue
        if window is None or (window.since <= inner.since and inner.until <= window.until):
            names.append(name)
    if not names:
        where = window.label() if window else "any window"
        raise ExportError(f"no packages of job {job!r} for {where} in {storage.describe()}")
    return storage, job, names


def _verify(settings: Settings, args: argparse.Namespace) -> int:
    import tempfile

    from stats_service.export.verify import verify_package

    storage, _, names = _selected(settings, args)
    for name in names:
        with storage.get(name) as path, tempfile.TemporaryDirectory() as temp:
            unpacked = verify_package(path, Path(temp))
        print(f"{name}: ok, {len(unpacked.files)} members", file=sys.stderr)
    return 0


def _report(settings: Settings, args: argparse.Namespace) -> int:
    import tempfile

    from stats_service.export.extract import extract_from_storage
    from stats_service.export.report import write_csv, write_json, write_xlsx
    from stats_service.export.rollup import EventsDaily
    from stats_service.export.run import package_window

    storage, job, names = _selected(settings, args)
    by_window: dict[Window, list[str]] = {}
    for name in names:
        inner = package_window(job, name)
        assert inner is not None
        by_window.setdefault(inner, []).append(name)
    merged = EventsDaily()
    for window, members in sorted(by_window.items(), key=lambda item: item[0].since):
        extracted = extract_from_storage(storage, members, collectors={"events"})
        rollup = EventsDaily()
        if "events" in extracted.frames:
            rollup.add_csv(extracted.frames["events"])
        rollup.group()
        if args.store_rollups:
            with tempfile.TemporaryDirectory() as temp:
                path = rollup.to_parquet(Path(temp) / "rollup.parquet")
                storage.put(f"rollups/{job}-{window.slug()}-{rollup.name}.parquet", filename=path)
        merged.add_parquet(rollup.frame)
        print(f"{window.label()}: {len(rollup.frame)} rollup rows", file=sys.stderr)
    merged.regroup()
    windows = sorted(by_window, key=lambda w: w.since)
    span = Window(windows[0].since, windows[-1].until)
    write_xlsx(args.out, [merged], window=span, generated_at=dt.datetime.now(dt.UTC))
    if args.csv:
        args.csv.mkdir(parents=True, exist_ok=True)
        write_csv(merged, args.csv / f"{merged.name}.csv")
    if args.json_dir:
        args.json_dir.mkdir(parents=True, exist_ok=True)
        write_json(merged, args.json_dir / f"{merged.name}.json")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
