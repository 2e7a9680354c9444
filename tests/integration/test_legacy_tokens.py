"""The original service's tokens on a real service, after ``token import-legacy``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import httpx
import pytest
from service_process import ServiceProcess

pytestmark = [pytest.mark.integration]


def original_token(identity: str, secret: str) -> str:
    """A token made the original way: urlsafe base64 of the JSON payload and its HMAC-SHA512."""
    payload = json.dumps({"expires": 10, "salt": "bc8218", "identity": identity}).encode()
    signature = hmac.new(secret.encode(), payload, hashlib.sha512).digest()
    return base64.urlsafe_b64encode(payload + signature).decode()


def test_imported_legacy_tokens_work_on_every_ingest_path(
    service_factory: type[ServiceProcess], tmp_path: Path
) -> None:
    secret = "the-original-secret-of-statsbob"
    token = original_token("statsbob", secret)
    original = tmp_path / "original-access.json"
    original.write_text(
        json.dumps(
            [
                {
                    "id": 1,
                    "username": "statsbob",
                    "tokens": [{"access_token": token, "access_secret": secret}],
                }
            ]
        )
    )
    service = service_factory(
        data_dir=tmp_path / "data", extra_env={"STATS_ACCEPT_LEGACY_TOKENS": "true"}
    )
    service.data_dir.mkdir(parents=True)
    imported = service.cli("token", "import-legacy", str(original), "--mode", "accept")
    assert "accepted" in imported.stdout
    assert token not in imported.stdout + imported.stderr
    assert secret not in imported.stdout + imported.stderr
    assert secret not in (service.data_dir / "access.json").read_text()
    reader = service.token("dashboard", "read")
    service.start()
    legacy = {"Authorization": f"Token {token}"}
    with httpx.Client(base_url=service.url, timeout=30) as client:
        one = client.post("/log/event/", json={"event": "pnc.test", "uid": "oisin"}, headers=legacy)
        lines = client.post(
            "/write", params={"db": "stats", "u": "statsbob", "p": token}, content=b"legacy v=1i"
        )
        forged = client.post(
            "/log/event",
            json={"event": "x", "uid": ""},
            headers={"Authorization": f"Token {original_token('statsbob', 'guess')}"},
        )
        found = client.get(
            "/log/events",
            params={"measurement": "legacy"},
            headers={"Authorization": f"Token {reader}"},
        )
    assert one.status_code == 200
    assert one.json().startswith("entry_")
    assert lines.status_code == 204
    assert forged.status_code == 401
    assert [e["identity"] for e in found.json()["events"]] == ["statsbob"]
    assert token not in service.log_path.read_text()
