"""The export modules' public surface, and the core never loading the heavy extra."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

SURFACES = {
    "stats_service.export": [],
    "stats_service.export.errors": [
        "ChecksumMismatch",
        "CollectorError",
        "ExportError",
        "ExportLocked",
        "ObjectNotFound",
        "PackageCorrupt",
        "PackageError",
        "StorageError",
        "StorageRefused",
        "WindowError",
    ],
    "stats_service.export.window": [
        "Window",
        "days_ago",
        "iso",
        "last_month",
        "parse_instant",
        "this_day",
        "this_month",
        "to_ns",
    ],
    "stats_service.export.collect": [
        "EVENT_COLUMNS",
        "Collector",
        "CollectorOutput",
        "GatherTarget",
        "PageCallback",
        "config",
        "event_counts",
        "events",
    ],
    "stats_service.export.package": [
        "CONFIG_MEMBER",
        "MANIFEST_MEMBER",
        "PACKAGE_FORMAT_VERSION",
        "STATUS_COLUMNS",
        "STATUS_MEMBER",
        "BuiltPackage",
        "Package",
        "PackageLimits",
        "sha256_file",
    ],
    "stats_service.export.verify": ["UnpackedPackage", "verify_package"],
    "stats_service.export.extract": [
        "Extracted",
        "extract",
        "extract_from_storage",
        "read_events_csv",
    ],
    "stats_service.export.rollup": ["EventsDaily", "Measure", "Rollup"],
    "stats_service.export.report": ["write_csv", "write_json", "write_xlsx"],
    "stats_service.export.storage": [
        "DirectoryStorage",
        "MemoryStorage",
        "Storage",
        "open_storage",
    ],
    "stats_service.export.storage.s3": ["S3Config", "S3Storage"],
    "stats_service.export.state": [
        "JobState",
        "RunLock",
        "check_job_name",
        "read_state",
        "state_name",
        "write_state",
    ],
    "stats_service.export.run": [
        "RunResult",
        "StoredPackage",
        "package_names",
        "package_window",
        "run_export",
    ],
    "stats_service.export.progress": ["Progress"],
    "stats_service.export.cli": ["register"],
}


@pytest.mark.parametrize(("module_name", "names"), SURFACES.items(), ids=list(SURFACES))
def test_each_module_exports_exactly_its_public_names(module_name, names):
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(names)
    for name in names:
        assert hasattr(module, name)


def test_the_core_never_imports_the_export_extra():
    code = (
        "import sys, stats_service, stats_service.cli, stats_service.app;"
        "stats_service.cli._parser();"
        "stats_service.app.create_app;"
        "heavy = {'pandas', 'pyarrow', 'openpyxl', 'boto3', 'botocore', 'numpy'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_runs_and_packages_do_not_need_pandas():
    code = (
        "import sys, stats_service.export.run, stats_service.export.verify;"
        "print(sorted({'pandas', 'openpyxl', 'boto3'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
