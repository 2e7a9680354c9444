"""Opening a package: check it against its manifest and unpack its members.

The reverse of :mod:`stats_service.export.package`, without pandas. Every
member the manifest lists must be there with the recorded size and sha256, and
nothing else may be: a difference is a
:class:`~stats_service.export.errors.ChecksumMismatch` naming the member. A
file that is not a gzip tarball, or lacks a readable manifest, is
:class:`~stats_service.export.errors.PackageCorrupt`. Members are written by
name into a directory of the caller's; no path from the archive is trusted.
"""

from __future__ import annotations

import gzip
import hashlib
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from stats_service.export.errors import ChecksumMismatch, PackageCorrupt
from stats_service.export.package import MANIFEST_MEMBER, PACKAGE_FORMAT_VERSION

__all__ = ["UnpackedPackage", "verify_package"]

_CHUNK = 1024 * 1024
_MAX_MANIFEST_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class UnpackedPackage:
    """A verified package: its manifest and where each member now is."""

    source: Path
    manifest: dict[str, Any]
    files: dict[str, Path]

    def members_of(self, collector: str) -> list[str]:
        """Names of the data members ``collector`` wrote, in manifest order."""
        return [m["name"] for m in self.manifest["members"] if m["collector"] == collector]


def _load_manifest(source: Path, tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        info = tar.getmember(MANIFEST_MEMBER)
    except KeyError:
        raise PackageCorrupt(f"{source.name} has no {MANIFEST_MEMBER}") from None
    if not info.isfile() or info.size > _MAX_MANIFEST_BYTES:
        raise PackageCorrupt(f"{source.name}: {MANIFEST_MEMBER} is not a small regular file")
    handle = tar.extractfile(info)
    assert handle is not None
    try:
        manifest = orjson.loads(handle.read())
    except orjson.JSONDecodeError:
        raise PackageCorrupt(f"{source.name}: {MANIFEST_MEMBER} is not JSON") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("members"), list):
        raise PackageCorrupt(f"{source.name}: {MANIFEST_MEMBER} lists no members")
    if manifest.get("format_version") != PACKAGE_FORMAT_VERSION:
        raise PackageCorrupt(
            f"{source.name}: package format {manifest.get('format_version')!r} is not "
            f"{PACKAGE_FORMAT_VERSION}"
        )
    return manifest


def verify_package(source: Path, into: Path) -> UnpackedPackage:
    """Verify ``source`` and unpack its members into the existing directory ``into``."""
    try:
        with tarfile.open(source, mode="r:gz") as tar:
            manifest = _load_manifest(source, tar)
            expected = {m["name"]: m for m in manifest["members"]}
            files: dict[str, Path] = {}
            for info in tar:
                if info.name == MANIFEST_MEMBER:
                    continue
                if info.name not in expected or not info.isfile():
                    raise ChecksumMismatch(
                        f"{source.name}: member {info.name!r} is not in the manifest",
                        member=info.name,
                    )
                target = into / f"{len(files):06d}-{Path(info.name).name}"
                files[info.name] = _unpack(source, tar, info, expected[info.name], target)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise PackageCorrupt(f"{source.name} is not a readable package: {exc}") from None
    missing = sorted(set(expected) - set(files))
    if missing:
        raise ChecksumMismatch(
            f"{source.name}: member {missing[0]!r} is missing", member=missing[0]
        )
    return UnpackedPackage(source=source, manifest=manifest, files=files)


def _unpack(
    source: Path, tar: tarfile.TarFile, info: tarfile.TarInfo, entry: dict[str, Any], target: Path
) -> Path:
    handle = tar.extractfile(info)
    assert handle is not None
    digest = hashlib.sha256()
    size = 0
    with target.open("xb") as out:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
        raise ChecksumMismatch(
            f"{source.name}: member {info.name!r} does not match the manifest "
            f"(sha256 {digest.hexdigest()[:12]}…, {size} bytes; expected "
            f"{str(entry['sha256'])[:12]}…, {entry['size']} bytes)",
            member=info.name,
        )
    return target
