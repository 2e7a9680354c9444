"""``stats-service export``: runs over the embedded store, one-line errors, exit codes."""

from __future__ import annotations

import asyncio
import json

import pytest
from openpyxl import load_workbook

from stats_service.cli import main
from stats_service.export.state import RunLock
from stats_service.storage.embedded import EmbeddedStore


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, make_events):
    path = tmp_path_factory.mktemp("cli") / "data"
    path.mkdir()
    store = EmbeddedStore(path / "events.sqlite3")

    async def fill():
        await store.open()
        await store.write(make_events(1500))
        await store.close()

    asyncio.run(fill())
    return path


@pytest.fixture
def env(monkeypatch, data_dir, tmp_path):
    for name in list(__import__("os").environ):
        if name.startswith("STATS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("STATS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("STATS_EXPORT_JOB", "nightly")
    return tmp_path / "target"


def _export(capsys, *args):
    code = main(["export", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_run_then_status_then_verify_then_report(env, capsys, tmp_path):
    code, out, err = _export(
        capsys,
        "run",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-04",
        "--to",
        f"dir:{env}",
        "--max-package-bytes",
        "100000",
        "--max-file-bytes",
        "30000",
        "--json",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["events"] == 1500
    assert summary["watermark"] == "2026-11-04T00:00:00Z"
    assert len(summary["packages"]) >= 2
    assert "stored nightly-20261101T000000Z-20261104T000000Z-0001.tar.gz" in err
    assert sorted(p.name for p in env.iterdir() if p.is_file()) == sorted(
        p["name"] for p in summary["packages"]
    )

    code, out, _ = _export(capsys, "status", "--to", f"dir:{env}")
    assert code == 0
    assert json.loads(out)["watermark"] == "2026-11-04T00:00:00Z"

    code, _, err = _export(capsys, "verify", "--from", f"dir:{env}")
    assert code == 0
    assert err.count(": ok,") == len(summary["packages"])

    xlsx = tmp_path / "report.xlsx"
    code, _, err = _export(
        capsys,
        "report",
        "--from",
        f"dir:{env}",
        "--out",
        str(xlsx),
        "--csv",
        str(tmp_path / "csv"),
        "--store-rollups",
    )
    assert code == 0, err
    assert xlsx.stat().st_size > 0
    assert (tmp_path / "csv" / "events_daily.csv").exists()
    assert (env / "rollups").is_dir()


def test_first_since_starts_a_new_job_then_the_watermark_takes_over(env, capsys):
    first = ["run", "--first-since", "2026-11-01", "--until", "2026-11-02", "--to", str(env)]
    code, out, err = _export(capsys, *first, "--json")
    assert code == 0, err
    assert json.loads(out)["since"] == "2026-11-01T00:00:00Z"
    code, out, err = _export(
        capsys,
        "run",
        "--first-since",
        "2026-11-01",
        "--until",
        "2026-11-03",
        "--to",
        str(env),
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["since"] == "2026-11-02T00:00:00Z"


def test_a_second_run_continues_from_the_watermark_and_the_report_regroups_both(
    env, capsys, tmp_path
):
    first = ["run", "--since", "2026-11-01", "--until", "2026-11-02", "--to", str(env)]
    assert _export(capsys, *first)[0] == 0
    code, out, err = _export(capsys, "run", "--until", "2026-11-04", "--to", str(env), "--json")
    assert code == 0, err
    assert json.loads(out)["since"] == "2026-11-02T00:00:00Z"

    xlsx = tmp_path / "both.xlsx"
    code, _, err = _export(capsys, "report", "--from", str(env), "--out", str(xlsx))
    assert code == 0, err
    assert err.count("rollup rows") == 2  # one rollup per window, then regrouped
    book = load_workbook(xlsx)
    assert "2026-11-01T00:00:00Z, 2026-11-04T00:00:00Z" in book["Summary"]["A2"].value
    assert [c.value for c in book["Summary"][6]][2] == 1500
    code, _, err = _export(
        capsys,
        "report",
        "--from",
        str(env),
        "--since",
        "2026-11-02",
        "--until",
        "2026-11-04",
        "--out",
        str(xlsx),
    )
    assert code == 0, err
    assert err.count("rollup rows") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-11-01T00:00:00", "--until", "2026-11-04"], "has no timezone offset"),
        (["--since", "2026-11-04", "--until", "2026-11-01"], "empty or reversed"),
        (["--since", "2026-01-01", "--until", "2026-11-04"], "over the cap"),
        (["--until", "2026-11-04"], "no watermark yet"),
        (["--since", "soon", "--until", "2026-11-04"], "is not a date"),
    ],
    ids=["naive", "reversed", "over-the-cap", "no-watermark", "unreadable"],
)
def test_bad_windows_are_one_line_and_exit_1(env, capsys, args, message):
    code, out, err = _export(capsys, "run", *args, "--to", f"dir:{env}")
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("stats-service: ")
    assert message in lines[0]
    assert not env.exists() or not any(env.glob("*.tar.gz"))


def test_no_target_is_a_configuration_error(env, capsys):
    code, _, err = _export(capsys, "run", "--since", "2026-11-01", "--until", "2026-11-02")
    assert code == 2
    assert "no export target" in err


def test_a_held_lock_fails_the_run_without_touching_the_target(env, capsys, data_dir):
    with RunLock(data_dir, "nightly"):
        code, _, err = _export(
            capsys, "run", "--since", "2026-11-01", "--until", "2026-11-02", "--to", str(env)
        )
    assert code == 1
    assert "another run of export job 'nightly'" in err
    assert not env.exists()


def test_an_unwritable_target_is_one_line(env, capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code, _, err = _export(
        capsys, "run", "--since", "2026-11-01", "--until", "2026-11-02", "--to", f"dir:{blocker}/x"
    )
    assert code == 1
    start, error = err.strip().splitlines()
    assert start.startswith("export nightly: [2026-11-01T00:00:00Z, 2026-11-02T00:00:00Z)")
    assert error.startswith("stats-service: cannot write")
    assert "Not a directory" in error


def test_verify_names_the_corrupt_package(env, capsys):
    assert (
        _export(capsys, "run", "--since", "2026-11-01", "--until", "2026-11-02", "--to", str(env))[
            0
        ]
        == 0
    )
    (package,) = env.glob("*.tar.gz")
    data = package.read_bytes()
    package.write_bytes(data[: len(data) // 2])
    code, _, err = _export(capsys, "verify", "--from", str(env))
    assert code == 1
    assert package.name in err
    assert err.startswith("stats-service: ")


def test_report_without_packages_says_so(env, capsys, tmp_path):
    code, _, err = _export(capsys, "report", "--from", str(env), "--out", str(tmp_path / "x.xlsx"))
    assert code == 1
    assert "no packages of job 'nightly'" in err
