"""Every stats-service command error is one ``stats-service: …`` line, never a traceback.

Usage errors (bad arguments, whatever argparse or the commands refuse) exit 2;
an environment that cannot be used (an unreadable file) exits 1.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import uvicorn

from stats_service.cli import main

STRONG = "s" * 48


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("STATS_CONFIG", "STATS_SECRET_KEYS", "STATS_DEVELOPMENT_MODE", "TABLE_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STATS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STATS_SECRET_KEYS", STRONG)
    served: list[object] = []
    # Never really serve: a port the parser lets through would bind here.
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: served.append(kwargs))
    return tmp_path


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("stats-service: "), err
    assert not lines[0].startswith("stats-service: stats-service"), err
    return lines[0]


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse exits itself
        return int(exc.code or 0)


USAGE = [
    (["token", "create", "--identity", ""], "identity"),
    (["token", "create", "--identity", "a\nb"], "identity"),
    (["token", "create", "--identity", " padded "], "identity"),
    (["token", "create", "--identity", "x" * 201], "identity"),
    (["token", "create"], "--identity"),
    (["token", "create", "--identity", "app", "--expires-in", "-5d"], "-5d"),
    (["token", "create", "--identity", "app", "--expires-in=-5d"], "-5d"),
    (["token", "create", "--identity", "app", "--expires-in", "soon"], "--expires-in"),
    (["token", "create", "--identity", "app", "--expires-in", "0d"], "--expires-in"),
    (["token", "create", "--identity", "app", "--scope", "root"], "--scope"),
    (["serve", "--port", "99999"], "--port"),
    (["serve", "--port", "-1"], "--port"),
    (["serve", "--port", "http"], "--port"),
    (["deadletter", "list", "--limit", "0"], "--limit"),
    (["deadletter", "list", "--limit", "-1"], "--limit"),
    (["deadletter", "replay"], "--all"),
    (["nosuch"], "nosuch"),
    (["--config"], "--config"),
    (["token", "list", "--bogus"], "--bogus"),
    (["token"], "create,list,revoke"),
    (["deadletter"], "list,replay"),
]


@pytest.mark.parametrize(
    ("argv", "needle"),
    USAGE,
    ids=[
        "empty-identity",
        "newline-identity",
        "padded-identity",
        "long-identity",
        "no-identity",
        "negative-expiry",
        "negative-expiry-equals",
        "word-expiry",
        "zero-expiry",
        "unknown-scope",
        "port-too-big",
        "negative-port",
        "port-not-a-number",
        "zero-limit",
        "negative-limit",
        "replay-nothing",
        "unknown-command",
        "config-without-file",
        "unknown-option",
        "token-alone",
        "deadletter-alone",
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    assert _run(argv) == 2
    assert needle in _one_line(capsys)
    assert not (env / "access.json").exists()


def test_a_negative_expiry_says_it_must_be_positive(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["token", "create", "--identity", "app", "--expires-in", "-5d"]) == 2
    line = _one_line(capsys)
    assert "expected one argument" not in line
    assert "positive" in line


def test_an_access_file_that_is_a_directory_is_one_line_and_exit_1(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (env / "access.json").mkdir()
    assert _run(["token", "create", "--identity", "app"]) == 1
    assert "access.json" in _one_line(capsys)


@pytest.mark.parametrize(
    "argv",
    [["outbox", "status"], ["deadletter", "list"], ["deadletter", "replay", "--all"]],
    ids=["status", "list", "replay"],
)
def test_an_outbox_that_is_not_a_database_is_one_line_and_exit_1(
    env: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    (env / "outbox.sqlite3").write_bytes(b"not a database" * 100)
    assert _run(argv) == 1
    assert "outbox" in _one_line(capsys)


def test_a_config_file_that_is_not_text_is_a_usage_error(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = env / "binary.ini"
    config.write_bytes(b"[stats_service]\nport = \xc4\x80\xff\n")
    assert _run(["--config", str(config), "token", "list"]) == 2
    assert "binary.ini" in _one_line(capsys)


def test_top_level_help_shows_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["--help"]) == 0
    assert "--config" in capsys.readouterr().out


def test_a_valid_port_still_serves(env: Path) -> None:
    assert _run(["serve", "--port", "20099"]) == 0
