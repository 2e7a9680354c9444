"""Legacy tokens of the original service: the import command, verification, acceptance."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import stat
from pathlib import Path

import pytest

from stats_service.auth import AccessFile, AuthenticationFailed, Authenticator, TokenSigner
from stats_service.auth.legacy import (
    LegacyTokens,
    import_legacy,
    legacy_token_id,
    read_legacy_access_file,
)
from stats_service.cli import main

STRONG = "s" * 48
NOW = 1_800_000_000


def original_token(identity: str, secret: str, *, expires: int = 10) -> str:
    """A token made the way the original service made them (see the seed's README)."""
    payload = json.dumps(
        {"expires": expires, "salt": secrets.token_hex(3), "identity": identity}
    ).encode()
    signature = hmac.new(secret.encode(), payload, hashlib.sha512).digest()
    return base64.urlsafe_b64encode(payload + signature).decode()


def original_access_file(path: Path, users: dict[str, int]) -> dict[str, list[tuple[str, str]]]:
    """Write an original access file; ``{username: [(token, secret), ...]}``."""
    made: dict[str, list[tuple[str, str]]] = {}
    document = []
    for number, (username, count) in enumerate(users.items(), start=1):
        pairs = []
        for _ in range(count):
            secret = secrets.token_hex(16)
            pairs.append((original_token(username, secret), secret))
        made[username] = pairs
        document.append(
            {
                "id": number,
                "username": username,
                "tokens": [{"access_token": t, "access_secret": s} for t, s in pairs],
            }
        )
    path.write_text(json.dumps(document))
    return made


def test_the_seed_example_token_has_the_documented_shape():
    token = (
        "eyJleHBpcmVzIjogMTAsICJzYWx0IjogImJjODIxOCIsICJpZGVudGl0eSI6ICJzdGF0c2JvYiJ9NyjnVy3Q"
        "kN9pa2H_DVe4OZLi5dydu1mB3clN2HezjI8y331ZflOHSOtgvw8JjnjlC4UFF8q1LCp0kHdj96ipDw=="
    )
    raw = base64.urlsafe_b64decode(token)
    assert json.loads(raw[:-64]) == {"expires": 10, "salt": "bc8218", "identity": "statsbob"}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("STATS_CONFIG", "STATS_DEVELOPMENT_MODE", "STATS_ACCEPT_LEGACY_TOKENS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STATS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STATS_SECRET_KEYS", STRONG)
    return tmp_path


def _authenticator(data: Path) -> Authenticator:
    legacy = LegacyTokens.load(data / "legacy-secrets.json")
    return Authenticator(
        TokenSigner([STRONG]), AccessFile(data / "access.json"), legacy=legacy.verify
    )


def test_accept_mode_keeps_legacy_tokens_working(env, capsys):
    made = original_access_file(env / "access.json", {"statsbob": 2, "alice": 1})
    code = main(["token", "import-legacy", str(env / "access.json"), "--mode", "accept"])
    out, err = capsys.readouterr()
    assert code == 0
    data = env / "data"
    auth = _authenticator(data)
    for username, pairs in made.items():
        for token, secret in pairs:
            principal = auth.authenticate(f"Token {token}")
            assert (principal.identity, principal.token_id) == (username, legacy_token_id(token))
            assert principal.scopes == {"write"}
            assert token not in out + err
            assert secret not in out + err
            assert secret not in (data / "access.json").read_text()
    assert "accept_legacy_tokens" in err
    assert out.count("accepted") == 3
    secrets_file = data / "legacy-secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    # A second import changes nothing.
    assert main(["token", "import-legacy", str(env / "access.json"), "--mode", "accept"]) == 0
    assert capsys.readouterr().out.count("already imported") == 3
    assert len(AccessFile(data / "access.json").records()) == 3


def test_legacy_tokens_are_refused_when_tampered_revoked_or_unknown(env, capsys):
    made = original_access_file(env / "access.json", {"statsbob": 1})
    main(
        ["token", "import-legacy", str(env / "access.json"), "--mode", "accept", "--scope", "admin"]
    )
    capsys.readouterr()
    data = env / "data"
    token, secret = made["statsbob"][0]
    auth = _authenticator(data)
    assert auth.authenticate(f"Token {token}").scopes == {"read", "write", "admin"}
    forged = original_token("statsbob", "not-the-secret")
    with pytest.raises(AuthenticationFailed) as caught:
        auth.authenticate(f"Token {forged}")
    assert caught.value.reason == "unknown"
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[-1] ^= 1
    with pytest.raises(AuthenticationFailed):
        auth.authenticate_token(base64.urlsafe_b64encode(bytes(raw)).decode())
    with pytest.raises(AuthenticationFailed) as caught:
        auth.authenticate_token("%%%")
    assert caught.value.reason == "malformed"
    AccessFile(data / "access.json").revoke(legacy_token_id(token), now=NOW)
    with pytest.raises(AuthenticationFailed) as caught:
        _authenticator(data).authenticate(f"Token {token}")
    assert caught.value.reason == "revoked"
    del secret


def test_legacy_tokens_are_refused_unless_accepted(env, capsys):
    made = original_access_file(env / "access.json", {"statsbob": 1})
    main(["token", "import-legacy", str(env / "access.json"), "--mode", "accept"])
    capsys.readouterr()
    data = env / "data"
    plain = Authenticator(TokenSigner([STRONG]), AccessFile(data / "access.json"))
    with pytest.raises(AuthenticationFailed) as caught:
        plain.authenticate(f"Token {made['statsbob'][0][0]}")
    assert caught.value.reason == "malformed"


def test_reissue_mode_writes_new_tokens_to_a_private_file(env, capsys):
    made = original_access_file(env / "access.json", {"statsbob": 1, "alice": 2})
    out_file = env / "new-tokens.json"
    code = main(
        [
            "token",
            "import-legacy",
            str(env / "access.json"),
            "--mode",
            "reissue",
            "--tokens-out",
            str(out_file),
            "--scope",
            "write",
            "--scope",
            "read",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0
    issued = json.loads(out_file.read_text())
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    assert sorted(entry["username"] for entry in issued) == ["alice", "alice", "statsbob"]
    auth = Authenticator(TokenSigner([STRONG]), AccessFile(env / "data" / "access.json"))
    for entry in issued:
        principal = auth.authenticate(f"Token {entry['token']}")
        assert principal.identity == entry["username"]
        assert principal.scopes == {"read", "write"}
        assert entry["token"] not in out + err
        assert entry["token_id"] in out
    for pairs in made.values():
        for token, secret in pairs:
            assert secret not in out + err + out_file.read_text()
            assert legacy_token_id(token) in out
    assert not (env / "data" / "legacy-secrets.json").exists()


def test_reissue_needs_an_output_file(env, capsys):
    original_access_file(env / "access.json", {"statsbob": 1})
    assert main(["token", "import-legacy", str(env / "access.json"), "--mode", "reissue"]) == 2
    assert "--tokens-out" in capsys.readouterr().err


def test_a_token_that_does_not_match_its_secret_is_reported_and_skipped(env, capsys):
    good = secrets.token_hex(8)
    document = [
        {
            "id": 1,
            "username": "bob",
            "tokens": [
                {"access_token": original_token("bob", "other"), "access_secret": good},
                {"access_token": original_token("bob", good), "access_secret": good},
            ],
        },
    ]
    (env / "access.json").write_text(json.dumps(document))
    code = main(["token", "import-legacy", str(env / "access.json"), "--mode", "accept"])
    out = capsys.readouterr().out
    assert code == 1
    assert "signature mismatch" in out
    assert out.count("accepted") == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ('{"users": []}', "list of users"),
        ('[{"id": 1}]', "username"),
        ('[{"id": 1, "username": "a"}]', "tokens"),
        ('[{"id": 1, "username": "a", "tokens": [{"access_token": "x"}]}]', "access_secret"),
    ],
    ids=["json", "shape", "username", "tokens", "pair"],
)
def test_bad_original_access_files(tmp_path, content, message):
    path = tmp_path / "access.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        read_legacy_access_file(path)


def test_import_function_records_identities(tmp_path):
    secret = "x" * 16
    token = original_token("carol", secret)
    access = AccessFile(tmp_path / "access.json")
    results = import_legacy(
        [("carol", token, secret)],
        access=access,
        mode="accept",
        scopes=["read"],
        legacy_secret_file=tmp_path / "legacy.json",
        signer=None,
        now=NOW,
    )
    assert [r.outcome for r in results] == ["accepted"]
    assert [(r.identity, r.token_id) for r in access.records()] == [
        ("carol", legacy_token_id(token))
    ]
    assert "secret" not in repr(LegacyTokens.load(tmp_path / "legacy.json").secrets())


def test_public_surface_is_deliberate():
    from stats_service import legacy_import  # noqa: PLC0415
    from stats_service.auth import credentials, legacy  # noqa: PLC0415

    assert sorted(legacy.__all__) == sorted(
        [
            "LEGACY_SECRETS_VERSION",
            "ImportedToken",
            "LegacySecret",
            "LegacyTokens",
            "import_legacy",
            "legacy_token_id",
            "read_legacy_access_file",
        ]
    )
    assert credentials.__all__ == ["token_from_credentials"]
    assert legacy_import.__all__ == ["add_import_legacy_command"]
