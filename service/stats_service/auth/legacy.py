"""Tokens of the original service: verify them, and import its access file.

The original service's access file is a JSON list of users, each with its
tokens and their secrets in plain text::

    [{"id": 1, "username": "statsbob",
      "tokens": [{"access_token": "eyJl...Dw==", "access_secret": "..."}]}]

A legacy token is ``urlsafe_base64(payload + signature)``: the payload is
the JSON text ``{"expires": ..., "salt": ..., "identity": ...}`` and the
signature the 64-byte HMAC-SHA512 of that text under the token's
``access_secret``. The original service never enforced ``expires``, and
neither does this module; revoke a legacy token with ``token revoke``.

``stats-service token import-legacy FILE`` records every user as an
identity in our access file and then either

* **accepts** the legacy tokens: each gets a token id (``leg_`` and 16 hex
  digits of the SHA-256 of the token) in the access file, and its secret
  goes to the *legacy secret file* (``<data_dir>/legacy-secrets.json``, mode
  0600), never to the access file. With ``accept_legacy_tokens`` on, the
  service verifies them the original way (:class:`LegacyTokens`), then
  checks the access file as for any token (known, not revoked, scopes);
* or **reissues**: a new token of ours for each legacy token, written to a
  file of the operator's choosing (mode 0600); only the mapping (user, token
  ids) is printed.

Secrets and tokens are never printed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from stats_service.auth.access import AccessFile, InvalidAccessFile
from stats_service.auth.keys import write_private_file
from stats_service.auth.tokens import AuthenticationFailed, TokenClaims, TokenSigner

__all__ = [
    "LEGACY_SECRETS_VERSION",
    "ImportedToken",
    "LegacySecret",
    "LegacyTokens",
    "import_legacy",
    "legacy_token_id",
    "read_legacy_access_file",
]

LEGACY_SECRETS_VERSION: Final = 1
_SIGNATURE_BYTES: Final = 64
_MAX_LEGACY_TOKEN_LENGTH: Final = 4096
_CACHE_SIZE: Final = 4096


@dataclass(frozen=True, slots=True)
class LegacySecret:
    """One legacy token's secret, kept in the legacy secret file under its token id."""

    token_id: str
    identity: str
    secret: str

    def __repr__(self) -> str:
        return f"LegacySecret(token_id={self.token_id!r}, identity={self.identity!r})"


@dataclass(frozen=True, slots=True)
class _LegacyEntry:
    username: str
    token: str
    secret: str


def legacy_token_id(token: str) -> str:
    """The token id a legacy token is recorded under: ``leg_`` and 16 hex digits."""
    return "leg_" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


def _signed_parts(token: str) -> tuple[bytes, bytes]:
    """The payload and signature of a legacy token; ``malformed`` if it is not one."""
    if len(token) > _MAX_LEGACY_TOKEN_LENGTH:
        raise AuthenticationFailed("malformed")
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise AuthenticationFailed("malformed") from None
    if len(raw) <= _SIGNATURE_BYTES:
        raise AuthenticationFailed("malformed")
    return raw[:-_SIGNATURE_BYTES], raw[-_SIGNATURE_BYTES:]


def _signature(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), payload, hashlib.sha512).digest()


class LegacyTokens:
    """Verifies legacy tokens against the secrets in the legacy secret file."""

    def __init__(self, secrets: Sequence[LegacySecret]) -> None:
        self._secrets = {entry.token_id: entry for entry in secrets}
        self._verified: dict[str, TokenClaims] = {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} tokens={len(self._secrets)}>"

    def secrets(self) -> list[LegacySecret]:
        """Every secret held, in file order."""
        return list(self._secrets.values())

    @classmethod
    def load(cls, path: Path) -> LegacyTokens:
        """The secrets in ``path`` (none when it is missing); ``InvalidAccessFile`` if corrupt."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return cls(())
        return cls(_parse_secrets(data, path))

    def verify(self, token: str) -> TokenClaims:
        """The claims of a legacy token whose signature verifies; :class:`AuthenticationFailed`.

        The claims carry the recorded identity and the token id, and the
        ``write`` scope; the access file's record decides the effective scopes.
        """
        cached = self._verified.get(token)
        if cached is not None:
            return cached
        payload, signature = _signed_parts(token)
        entry = self._secrets.get(legacy_token_id(token))
        if entry is None:
            raise AuthenticationFailed("unknown")
        if not hmac.compare_digest(_signature(entry.secret, payload), signature):
            raise AuthenticationFailed("bad_signature")
        claims = TokenClaims(
            identity=entry.identity,
            token_id=entry.token_id,
            scopes=frozenset({"read", "write", "admin"}),
            issued_at=0,
            expires_at=None,
        )
        if len(self._verified) >= _CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = claims
        return claims


def _parse_secrets(data: bytes, path: Path) -> list[LegacySecret]:
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidAccessFile(f"legacy secret file {path} is not valid JSON") from None
    if not isinstance(document, dict) or document.get("version") != LEGACY_SECRETS_VERSION:
        raise InvalidAccessFile(f"legacy secret file {path}: 'version' must be 1")
    entries = document.get("tokens")
    if not isinstance(entries, list):
        raise InvalidAccessFile(f"legacy secret file {path}: 'tokens' must be a list")
    secrets: list[LegacySecret] = []
    for index, entry in enumerate(entries):
        values = [entry.get(k) if isinstance(entry, dict) else None for k in _SECRET_KEYS]
        texts = [value for value in values if isinstance(value, str) and value]
        if len(texts) != len(_SECRET_KEYS):
            raise InvalidAccessFile(
                f"legacy secret file {path}: tokens[{index}] needs token_id, identity, secret"
            )
        secrets.append(LegacySecret(*texts))
    return secrets


_SECRET_KEYS: Final = ("token_id", "identity", "secret")


def _dump_secrets(secrets: Sequence[LegacySecret]) -> bytes:
    document = {
        "version": LEGACY_SECRETS_VERSION,
        "tokens": [
            {"token_id": s.token_id, "identity": s.identity, "secret": s.secret} for s in secrets
        ],
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def read_legacy_access_file(path: Path) -> list[tuple[str, str, str]]:
    """``(username, access_token, access_secret)`` for every token in an original access file.

    ``ValueError`` with a message naming the entry when the file is not one.
    """
    try:
        document: Any = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(document, list):
        raise ValueError(f"{path}: the top level must be a list of users")  # noqa: TRY004  bad file content, not a caller's type
    found: list[tuple[str, str, str]] = []
    for index, user in enumerate(document):
        username = user.get("username") if isinstance(user, dict) else None
        tokens = user.get("tokens") if isinstance(user, dict) else None
        if not isinstance(username, str) or not username.strip():
            raise ValueError(f"{path}: user {index} has no 'username'")
        if not isinstance(tokens, list):
            raise ValueError(f"{path}: user {username!r} has no 'tokens' list")  # noqa: TRY004  as above
        for number, pair in enumerate(tokens):
            token = pair.get("access_token") if isinstance(pair, dict) else None
            secret = pair.get("access_secret") if isinstance(pair, dict) else None
            if not (isinstance(token, str) and token and isinstance(secret, str) and secret):
                raise ValueError(
                    f"{path}: token {number} of {username!r} needs access_token and access_secret"
                )
            found.append((username.strip(), token.strip(), secret))
    return found


@dataclass(frozen=True, slots=True)
class ImportedToken:
    """What became of one legacy token: who, its legacy token id, and the outcome."""

    username: str
    legacy_token_id: str
    outcome: Literal["accepted", "reissued", "already imported", "signature mismatch"]
    token_id: str | None = None
    """Our token id: the legacy one when accepted, the new one when reissued."""


def import_legacy(
    entries: Sequence[tuple[str, str, str]],
    *,
    access: AccessFile,
    mode: Literal["accept", "reissue"],
    scopes: Sequence[str],
    legacy_secret_file: Path,
    signer: TokenSigner | None,
    now: int,
    write_tokens: Callable[[list[dict[str, str]]], None] | None = None,
) -> list[ImportedToken]:
    """Import ``entries`` (see :func:`read_legacy_access_file`); what became of each.

    Tokens whose signature does not verify with their own secret are skipped.
    ``accept`` records each token id with ``scopes`` and keeps its secret in
    ``legacy_secret_file``; ``reissue`` creates a token of ours per legacy
    token (``signer`` signs it) and hands ``[{username, token_id, token}]``
    to ``write_tokens``. Accepting the same file twice changes nothing the second
    time; reissuing twice issues a second set of tokens.
    """
    known = {record.token_id for record in access.records()}
    existing = LegacyTokens.load(legacy_secret_file).secrets()
    new_secrets: list[LegacySecret] = []
    issued: list[dict[str, str]] = []
    results: list[ImportedToken] = []
    for username, token, secret in entries:
        legacy_id = legacy_token_id(token)
        try:
            payload, signature = _signed_parts(token)
        except AuthenticationFailed:
            results.append(ImportedToken(username, legacy_id, "signature mismatch"))
            continue
        if not hmac.compare_digest(_signature(secret, payload), signature):
            results.append(ImportedToken(username, legacy_id, "signature mismatch"))
            continue
        if mode == "accept":
            if legacy_id in known:
                results.append(ImportedToken(username, legacy_id, "already imported", legacy_id))
                continue
            access.add(username, scopes, expires_at=None, now=now, token_id=legacy_id)
            known.add(legacy_id)
            new_secrets.append(LegacySecret(legacy_id, username, secret))
            results.append(ImportedToken(username, legacy_id, "accepted", legacy_id))
        else:
            if signer is None:
                raise ValueError("reissuing needs a signer")
            record = access.add(username, scopes, expires_at=None, now=now)
            issued.append(
                {
                    "username": username,
                    "legacy_token_id": legacy_id,
                    "token_id": record.token_id,
                    "token": signer.issue(record.to_claims()),
                }
            )
            results.append(ImportedToken(username, legacy_id, "reissued", record.token_id))
    if new_secrets:
        write_private_file(legacy_secret_file, _dump_secrets([*existing, *new_secrets]))
    if issued and write_tokens is not None:
        write_tokens(issued)
    return results
