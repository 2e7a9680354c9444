"""The stats-service command line: tokens, dev-setup, configuration errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stats_service.auth import AccessFile, Authenticator, TokenSigner
from stats_service.auth.keys import read_key_file
from stats_service.cli import main

STRONG = "s" * 48


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("STATS_CONFIG", "STATS_SECRET_KEYS", "STATS_DEVELOPMENT_MODE", "TABLE_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STATS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STATS_SECRET_KEYS", STRONG)
    return tmp_path


def _authenticate(data_dir: Path, token: str, keys: tuple[str, ...] = (STRONG,)) -> set[str]:
    auth = Authenticator(TokenSigner(keys), AccessFile(data_dir / "access.json"))
    return set(auth.authenticate(f"Token {token}").scopes)


def test_token_create_prints_only_the_token(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["token", "create", "--identity", "app", "--scope", "write", "--scope", "read"])
    out, err = capsys.readouterr()
    assert code == 0
    token = out.strip()
    assert "\n" not in token
    assert " " not in token
    assert _authenticate(env, token) == {"write", "read"}
    assert "app" in err
    assert token not in (env / "access.json").read_text()


def test_token_create_defaults_to_write_and_takes_an_expiry(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "create", "--identity", "app", "--expires-in", "2h"]) == 0
    token = capsys.readouterr().out.strip()
    assert _authenticate(env, token) == {"write"}
    record = json.loads((env / "access.json").read_text())["tokens"][0]
    assert record["expires_at"] - record["created_at"] == 7200


def test_bad_expiry_is_a_usage_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "create", "--identity", "app", "--expires-in", "soon"]) == 2
    assert "expires-in" in capsys.readouterr().err


def test_list_and_revoke(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["token", "create", "--identity", "app"])
    token = capsys.readouterr().out.strip()
    assert main(["token", "list"]) == 0
    listing = capsys.readouterr().out
    assert token not in listing
    token_id = listing.splitlines()[1].split()[0]
    assert token_id.startswith("tok_")
    assert main(["token", "revoke", token_id]) == 0
    capsys.readouterr()
    main(["token", "list"])
    assert listing != capsys.readouterr().out
    with pytest.raises(Exception, match="revoked"):
        _authenticate(env, token)
    assert main(["token", "revoke", "tok_unknown"]) == 1


def test_config_option_after_the_command(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STATS_DATA_DIR")
    ini = tmp_path / "custom.ini"
    other = tmp_path / "other"
    ini.write_text(f"[stats_service]\ndata_dir = {other}\n", encoding="utf-8")
    assert main(["token", "create", "--config", str(ini), "--identity", "x"]) == 0
    assert (other / "access.json").exists()
    assert main(["--config", str(ini), "token", "list"]) == 0
    assert "x" in capsys.readouterr().out


def test_refuses_development_key_outside_development_mode(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STATS_SECRET_KEYS", "dev-" + "x" * 40)
    assert main(["token", "create", "--identity", "app"]) == 2
    assert "development" in capsys.readouterr().err


def test_dev_setup_needs_development_mode(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev-setup"]) == 2
    assert "development_mode" in capsys.readouterr().err


def test_dev_setup_is_idempotent(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STATS_SECRET_KEYS")
    monkeypatch.setenv("STATS_DEVELOPMENT_MODE", "true")
    assert main(["dev-setup"]) == 0
    first = capsys.readouterr().out.strip()
    assert main(["dev-setup"]) == 0
    second = capsys.readouterr().out.strip()
    assert first == second
    (key,) = read_key_file(env / "secret.key")
    assert key.startswith("dev-")
    assert _authenticate(env, first, (key,)) == {"read", "write"}
    assert (env / "dev-token").stat().st_mode & 0o777 == 0o600


def test_dev_setup_replaces_a_revoked_token(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STATS_DEVELOPMENT_MODE", "true")
    main(["dev-setup"])
    first = capsys.readouterr().out.strip()
    main(["token", "list"])
    token_id = capsys.readouterr().out.splitlines()[1].split()[0]
    main(["token", "revoke", token_id])
    main(["dev-setup"])
    assert capsys.readouterr().out.strip() not in {"", first}


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "serve" in capsys.readouterr().err


def test_corrupt_access_file_is_reported_not_raised(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (env / "access.json").write_text("{not json", encoding="utf-8")
    assert main(["token", "create", "--identity", "app"]) == 1
    assert "access file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["outbox", "status"], ["deadletter", "list"], ["deadletter", "replay", "--all"]],
    ids=["status", "list", "replay"],
)
def test_outbox_commands_explain_a_missing_outbox(
    env: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(argv) == 2
    assert "no outbox" in capsys.readouterr().err
    assert not (env / "outbox.sqlite3").exists()


def test_outbox_status_and_deadletters_of_an_idle_outbox(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stats_service.delivery.outbox import Outbox  # noqa: PLC0415

    box = Outbox(env / "outbox.sqlite3")
    box.open()
    box.close()
    assert main(["outbox", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["pending_events"] == 0
    assert status["dead_letters"] == 0
    assert main(["deadletter", "list"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["deadletter", "replay", "--all"]) == 0
    assert "queued 0" in capsys.readouterr().err
