"""Packages: a stream of deterministic ``.tar.gz`` files from a list of collectors.

Every package holds, in this order, ``config.json`` (the ``config``
collector's document, repeated in each package), ``manifest.json``,
``data_collection_status.csv`` and the data members. The manifest records
the package format version, the window, each collector's name, version and
parameters, and the sha256 and size of every other member; ``final`` is true
on the last package of the stream.

Limits: the members of one package add up to at most ``max_package_bytes``
(uncompressed) and each data file is at most ``max_file_bytes`` (collectors
are asked for files that also fit in a package beside the config and the
manifest). A
collector's files may be spread over several packages; a file that cannot fit
is a :class:`~stats_service.export.errors.PackageError`, never truncated.
A collector that fails stops the stream, unless ``keep_going`` is set: then
its status row says ``failed`` with the error, and the others go on.

The same collectors over the same data give byte-identical packages: members
are in a fixed order with fixed owners, modes and mtimes, the gzip header has
no name and mtime 0, and the status times come from the ``clock`` passed in
(``stats-service export run`` passes one that answers the window's end).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import shutil
import tarfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from stats_service.export.collect import Collector, CollectorOutput, GatherTarget
from stats_service.export.errors import CollectorError, PackageError
from stats_service.export.window import Window, iso

__all__ = [
    "CONFIG_MEMBER",
    "MANIFEST_MEMBER",
    "PACKAGE_FORMAT_VERSION",
    "STATUS_COLUMNS",
    "STATUS_MEMBER",
    "BuiltPackage",
    "Package",
    "PackageLimits",
    "sha256_file",
]

PACKAGE_FORMAT_VERSION = 1
"""Bumped when the layout of a package or its manifest changes meaning."""

CONFIG_MEMBER = "config.json"
MANIFEST_MEMBER = "manifest.json"
STATUS_MEMBER = "data_collection_status.csv"
STATUS_COLUMNS = ("collector", "since", "until", "started", "finished", "status", "error")

_MIB = 1024 * 1024
_CHUNK = 1024 * 1024
_MEMBER_MTIME = 0
_META_RESERVE_BYTES = 16 * 1024
"""Room kept in each package for the manifest and status members."""
_MIN_FILE_BYTES = 4096


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class PackageLimits:
    """Size limits of one package; both are uncompressed bytes."""

    max_package_bytes: int = 200 * _MIB
    max_file_bytes: int = 50 * _MIB

    def __post_init__(self) -> None:
        if self.max_package_bytes < 1 or self.max_file_bytes < 1:
            raise PackageError("package and file limits must be positive")


@dataclass(frozen=True, slots=True)
class BuiltPackage:
    """One finished package file."""

    path: Path
    index: int
    final: bool
    sha256: str
    size: int
    members: dict[str, dict[str, Any]]

    @property
    def name(self) -> str:
        """Its file name (what storage keys it by)."""
        return self.path.name


@dataclass(slots=True)
class _Status:
    collector: Collector
    started: dt.datetime
    finished: dt.datetime | None = None
    status: str = "ok"
    error: str = ""


@dataclass(slots=True)
class _Member:
    name: str
    collector: str
    size: int
    sha256: str
    path: Path | None = None
    data: bytes | None = None


@dataclass(slots=True)
class _Open:
    members: list[_Member] = field(default_factory=list)
    statuses: list[_Status] = field(default_factory=list)


class Package:
    """Builds the packages of one window from ``collectors`` (the ``config`` one first)."""

    def __init__(
        self,
        collectors: Sequence[Collector],
        *,
        window: Window,
        limits: PackageLimits | None = None,
        name_prefix: str = "stats-export",
        clock: Callable[[], dt.datetime] | None = None,
        keep_going: bool = False,
    ) -> None:
        configs = [c for c in collectors if c.name == "config"]
        if len(configs) != 1:
            raise PackageError("a package needs exactly one config collector")
        stems = [c.stem for c in collectors]
        duplicates = sorted({s for s in stems if stems.count(s) > 1})
        if duplicates:
            raise PackageError(f"two collectors would write the same members: {duplicates}")
        self._config = configs[0]
        self._data = [c for c in collectors if c.name != "config"]
        self._window = window
        self._limits = limits or PackageLimits()
        self._prefix = name_prefix
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._keep_going = keep_going

    def package_name(self, index: int) -> str:
        """The file name of the ``index``-th package (from 1)."""
        return f"{self._prefix}-{self._window.slug()}-{index:04d}.tar.gz"

    async def build(self, output_dir: Path) -> AsyncIterator[BuiltPackage]:
        """Gather every collector and yield the packages as they fill, written to ``output_dir``.

        The caller owns the yielded files; the collectors' own files are removed.
        """
        work = output_dir / ".collect"
        work.mkdir(parents=True, exist_ok=False)
        try:
            target = GatherTarget(output_dir=work, max_file_bytes=self._limits.max_file_bytes)
            document = await self._config.gather(self._window.since, self._window.until, target)
            if not isinstance(document, dict):
                raise PackageError("the config collector must return a dict")
            config_bytes = _json_bytes(document)
            target = GatherTarget(output_dir=work, max_file_bytes=self._file_limit(config_bytes))
            current = _Open()
            index = 1
            for collector in self._data:
                status = _Status(collector, started=self._clock())
                output = await self._gather(collector, target, status)
                status.finished = self._clock()
                current.statuses.append(status)
                for member in _members(collector, output, work, self._limits):
                    if not self._fits(config_bytes, current, member, index) and current.members:
                        yield self._write(output_dir, index, False, config_bytes, current)
                        index += 1
                        current = _Open(statuses=[status])
                    if not self._fits(config_bytes, current, member, index):
                        raise PackageError(
                            f"{member.name} ({member.size} bytes) does not fit in a package "
                            f"of max_package_bytes {self._limits.max_package_bytes} with "
                            "the config, manifest and status members"
                        )
                    current.members.append(member)
            yield self._write(output_dir, index, True, config_bytes, current)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _file_limit(self, config_bytes: bytes) -> int:
        """Files as large as ``max_file_bytes`` allows, and small enough to fit in a package."""
        room = self._limits.max_package_bytes - len(config_bytes) - _META_RESERVE_BYTES
        if room < _MIN_FILE_BYTES:
            raise PackageError(
                f"max_package_bytes {self._limits.max_package_bytes} leaves no room for data "
                f"beside the config ({len(config_bytes)} bytes) and the manifest"
            )
        return min(self._limits.max_file_bytes, room)

    async def _gather(
        self, collector: Collector, target: GatherTarget, status: _Status
    ) -> CollectorOutput:
        try:
            return await collector.gather(self._window.since, self._window.until, target)
        except CollectorError as exc:
            if not self._keep_going:
                raise
            status.status = "failed"
            status.error = exc.message
            return []

    def _fits(self, config_bytes: bytes, current: _Open, member: _Member, index: int) -> bool:
        trial = _Open(members=[*current.members, member], statuses=current.statuses)
        manifest, status = self._meta(index, True, config_bytes, trial)
        total = len(config_bytes) + len(manifest) + len(status)
        total += sum(m.size for m in trial.members)
        return total <= self._limits.max_package_bytes

    def _meta(
        self, index: int, final: bool, config_bytes: bytes, current: _Open
    ) -> tuple[bytes, bytes]:
        status = _status_csv(self._window, current.statuses)
        members = [
            _Member(CONFIG_MEMBER, "config", len(config_bytes), _sha(config_bytes)),
            _Member(STATUS_MEMBER, "package", len(status), _sha(status)),
            *current.members,
        ]
        collectors = [self._config, *(s.collector for s in current.statuses)]
        manifest = {
            "format_version": PACKAGE_FORMAT_VERSION,
            "package": {"name": self.package_name(index), "index": index, "final": final},
            "window": {"since": iso(self._window.since), "until": iso(self._window.until)},
            "collectors": [
                {"name": c.name, "version": c.version, "stem": c.stem, "params": c.params()}
                for c in collectors
            ],
            "members": [
                {"name": m.name, "collector": m.collector, "size": m.size, "sha256": m.sha256}
                for m in members
            ],
        }
        return _json_bytes(manifest), status

    def _write(
        self, output_dir: Path, index: int, final: bool, config_bytes: bytes, current: _Open
    ) -> BuiltPackage:
        manifest, status = self._meta(index, final, config_bytes, current)
        path = output_dir / self.package_name(index)
        with path.open("xb") as raw:
            gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)
            with gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                _add_bytes(tar, CONFIG_MEMBER, config_bytes)
                _add_bytes(tar, MANIFEST_MEMBER, manifest)
                _add_bytes(tar, STATUS_MEMBER, status)
                for member in current.members:
                    if member.data is not None:
                        _add_bytes(tar, member.name, member.data)
                    else:
                        assert member.path is not None
                        with member.path.open("rb") as fh:
                            tar.addfile(_info(member.name, member.size), fh)
        for member in current.members:
            if member.path is not None:
                member.path.unlink(missing_ok=True)
        listed = orjson.loads(manifest)["members"]
        return BuiltPackage(
            path=path,
            index=index,
            final=final,
            sha256=sha256_file(path),
            size=path.stat().st_size,
            members={m["name"]: m for m in listed},
        )


def _members(
    collector: Collector, output: object, work: Path, limits: PackageLimits
) -> list[_Member]:
    if isinstance(output, dict):
        if not output:
            return []
        data = _json_bytes(output)
        if len(data) > limits.max_file_bytes:
            raise PackageError(
                f"{collector.stem}.json is {len(data)} bytes, over max_file_bytes "
                f"{limits.max_file_bytes}"
            )
        return [_Member(f"{collector.stem}.json", collector.name, len(data), _sha(data), data=data)]
    if not isinstance(output, list):
        raise PackageError(f"collector {collector.name} returned {type(output).__name__}")
    found: list[_Member] = []
    for number, raw_path in enumerate(output, start=1):
        path = Path(raw_path)
        if path.parent.resolve() != work.resolve():
            raise PackageError(f"collector {collector.name} wrote {path} outside its directory")
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise PackageError(
                f"{path.name} from {collector.name} is {size} bytes, over max_file_bytes "
                f"{limits.max_file_bytes}"
            )
        name = f"{collector.stem}.{number:04d}{''.join(path.suffixes[-1:]) or '.dat'}"
        found.append(_Member(name, collector.name, size, sha256_file(path), path=path))
    return found


def _status_csv(window: Window, statuses: list[_Status]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(STATUS_COLUMNS)
    for status in statuses:
        writer.writerow(
            [
                status.collector.stem,
                iso(window.since),
                iso(window.until),
                iso(status.started),
                iso(status.finished) if status.finished else "",
                status.status,
                status.error,
            ]
        )
    return buffer.getvalue().encode()


def _json_bytes(value: object) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = _MEMBER_MTIME
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_info(name, len(data)), io.BytesIO(data))
