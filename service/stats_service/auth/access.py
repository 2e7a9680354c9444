"""The access file (who holds which token id, with which scopes) and request authentication.

The access file is JSON; it names identities, token ids, scopes and revocations, and holds
**no signing key and no token**, so it can be shown to an operator safely::

    {
      "version": 1,
      "tokens": [
        {
          "token_id": "tok_1f0c9a3b5d7e2468",
          "identity": "alice",
          "scopes": ["write"],
          "created_at": 1700000000,
          "expires_at": null,
          "revoked_at": null
        }
      ]
    }

Times are whole Unix seconds; ``expires_at`` and ``revoked_at`` are ``null`` when unset.
``version`` is 1; a file with another version is refused.

:class:`AccessFile` rereads the file when it changes (its inode, mtime, ctime or size), so
revocations take effect without a restart. It looks at the file at most once per
``reload_interval_seconds`` of its injected clock; between looks a lookup is a clock call
and a dict lookup. A missing file means "no tokens". A file that cannot be read or parsed
is logged once and the last good content stays in force: a bad edit never takes the
service down. Writes (:meth:`AccessFile.add`, :meth:`AccessFile.revoke`) reread the file,
refuse to overwrite one that is corrupt, and replace it atomically with mode ``0600``.

:class:`Authenticator` ties it together for every request: header → token → signature and
expiry (:class:`~stats_service.auth.tokens.TokenSigner`) → the token id's record (known,
same identity, not revoked, not expired) → the effective scopes, which are the token's
scopes intersected with the record's (``admin`` counting as ``read`` and ``write`` too).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from stats_service.auth.keys import write_private_file
from stats_service.auth.tokens import (
    KNOWN_SCOPES,
    AuthenticationFailed,
    TokenClaims,
    TokenSigner,
    expand_scopes,
    new_token_id,
    parse_authorization,
)
from stats_service.errors import Forbidden

__all__ = [
    "ACCESS_FILE_VERSION",
    "AccessFile",
    "Authenticator",
    "InvalidAccessFile",
    "Principal",
    "TokenRecord",
]

ACCESS_FILE_VERSION: Final = 1

_MAX_IDENTITY_LENGTH: Final = 200

logger = logging.getLogger(__name__)


class InvalidAccessFile(ValueError):  # named for what went wrong, like errors.py
    """The access file exists but is not a valid version-1 access file."""


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """One token id in the access file. It says what a token may do; it is not the token."""

    token_id: str
    identity: str
    scopes: frozenset[str]
    created_at: int
    """Unix seconds."""
    expires_at: int | None
    """Unix seconds; expired from this instant on. ``None``: never expires."""
    revoked_at: int | None
    """Unix seconds when revoked; ``None``: not revoked."""

    def to_claims(self) -> TokenClaims:
        """The claims of the token to issue for this record (``ValueError`` if revoked)."""
        if self.revoked_at is not None:
            raise ValueError(f"token id {self.token_id} is revoked")
        return TokenClaims(
            identity=self.identity,
            token_id=self.token_id,
            scopes=self.scopes,
            issued_at=self.created_at,
            expires_at=self.expires_at,
        )


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request.

    ``scopes`` are effective and expanded: ``admin`` appears with ``read`` and ``write``.
    """

    identity: str
    token_id: str
    scopes: frozenset[str]


_NEVER_LOADED: Final = object()
_FILE_MISSING: Final = object()


class AccessFile:
    """The access file at ``path``, reloaded when it changes; safe to share between threads."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        reload_interval_seconds: float = 1.0,
    ) -> None:
        if reload_interval_seconds < 0:
            raise ValueError("reload_interval_seconds must not be negative")
        self._path = path
        self._clock = clock
        self._reload_interval_seconds = reload_interval_seconds
        self._lock = threading.Lock()
        # Replaced whole, never mutated: readers take a reference without the lock.
        self._records: Mapping[str, TokenRecord] = {}
        self._signature: object = _NEVER_LOADED
        self._next_check_at = float("-inf")
        self._last_warning: str | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {str(self._path)!r}>"

    @property
    def path(self) -> Path:
        return self._path

    def lookup(self, token_id: str) -> TokenRecord | None:
        """The record for ``token_id``, or ``None`` if the file does not list it."""
        if self._clock() >= self._next_check_at:
            self._refresh()
        return self._records.get(token_id)

    def records(self) -> list[TokenRecord]:
        """Every record, in file order."""
        if self._clock() >= self._next_check_at:
            self._refresh()
        return list(self._records.values())

    def add(
        self,
        identity: str,
        scopes: Iterable[str],
        *,
        expires_at: int | None,
        now: int,
        token_id: str | None = None,
    ) -> TokenRecord:
        """Record a new token id for ``identity`` and write the file; return the new record.

        ``token_id`` fixes the id (imported tokens); by default a fresh one is drawn.

        ``ValueError`` for a bad identity, no or unknown scopes, or an expiry not after
        ``now``; :class:`InvalidAccessFile` if the current file is corrupt (it is left as is).
        """
        identity = _check_identity(identity)
        if isinstance(scopes, str):
            raise TypeError("scopes must be an iterable of scope names, not one string")
        scope_set = frozenset(scopes)
        if not scope_set:
            raise ValueError("a token needs at least one scope")
        unknown = scope_set - KNOWN_SCOPES
        if unknown:
            raise ValueError(f"unknown scopes {sorted(unknown)}; known: {sorted(KNOWN_SCOPES)}")
        if expires_at is not None and expires_at <= now:
            raise ValueError("expires_at must be after now")
        with self._lock:
            current = self._read_for_update()
            if token_id is not None:
                if token_id in current or not token_id.isprintable() or not token_id:
                    raise ValueError(f"token id {token_id!r} is taken or not printable")
            else:
                token_id = new_token_id()
                while token_id in current:  # pragma: no cover - 64 random bits
                    token_id = new_token_id()
            record = TokenRecord(
                token_id=token_id,
                identity=identity,
                scopes=scope_set,
                created_at=now,
                expires_at=expires_at,
                revoked_at=None,
            )
            self._write({**current, token_id: record})
        return record

    def revoke(self, token_id: str, *, now: int) -> TokenRecord:
        """Mark ``token_id`` revoked at ``now`` and write the file; return the updated record.

        Revoking twice keeps the first revocation time. ``KeyError`` if the id is unknown;
        :class:`InvalidAccessFile` if the current file is corrupt (it is left as is).
        """
        with self._lock:
            current = self._read_for_update()
            record = current.get(token_id)
            if record is None:
                raise KeyError(token_id)
            if record.revoked_at is not None:
                return record
            revoked = replace(record, revoked_at=now)
            self._write({**current, token_id: revoked})
        return revoked

    def _refresh(self) -> None:
        now = self._clock()
        with self._lock:
            if now < self._next_check_at:
                return  # another thread looked while we waited for the lock
            self._next_check_at = now + self._reload_interval_seconds
            self._load_if_changed()

    def _load_if_changed(self) -> None:
        """Reload if the file changed since the last look. Called with the lock held."""
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            if self._signature is not _FILE_MISSING:
                if self._signature is not _NEVER_LOADED:
                    logger.warning("access file %s is gone; no token is accepted", self._path)
                self._records = {}
                self._signature = _FILE_MISSING
                self._last_warning = None
            return
        except OSError as exc:
            self._warn_once(f"cannot read access file {self._path} ({exc.strerror})")
            return
        signature = (stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size)
        if signature == self._signature:
            return
        try:
            records = _parse(self._path.read_bytes())
        except OSError as exc:
            self._warn_once(f"cannot read access file {self._path} ({exc.strerror})")
            return
        except InvalidAccessFile as exc:
            # Remember this version so it is neither reparsed nor reported again.
            self._signature = signature
            self._warn_once(f"access file {self._path} is invalid ({exc})")
            return
        self._records = records
        self._signature = signature
        self._last_warning = None

    def _warn_once(self, message: str) -> None:
        if message != self._last_warning:
            self._last_warning = message
            logger.warning("%s; keeping the last good content", message)

    def _read_for_update(self) -> dict[str, TokenRecord]:
        """The file's current records, read afresh for a write. Called with the lock held."""
        try:
            data = self._path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            return _parse(data)
        except InvalidAccessFile as exc:
            raise InvalidAccessFile(
                f"access file {self._path} is invalid ({exc}); fix or remove it first"
            ) from None

    def _write(self, records: dict[str, TokenRecord]) -> None:
        """Write ``records`` and make them this instance's view. Called with the lock held."""
        write_private_file(self._path, _dump(records))
        stat = self._path.stat()
        self._records = records
        self._signature = (stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size)
        self._last_warning = None


class Authenticator:
    """Turns an ``Authorization`` header into a :class:`Principal`, or refuses it."""

    def __init__(
        self,
        signer: TokenSigner,
        access: AccessFile,
        *,
        clock: Callable[[], float] = time.time,
        legacy: Callable[[str], TokenClaims] | None = None,
    ) -> None:
        self._signer = signer
        self._access = access
        self._clock = clock
        # Verifies tokens of the original service (``auth.legacy``) when they are accepted.
        self._legacy = legacy

    @property
    def access(self) -> AccessFile:
        """The access file it checks token ids against (the tokens API manages it)."""
        return self._access

    def create_token(
        self, identity: str, scopes: Iterable[str], *, lifetime_seconds: int | None
    ) -> tuple[TokenRecord, str]:
        """Record a new token id now and sign its token; the token is the caller's to hand out.

        ``ValueError`` for what :meth:`AccessFile.add` refuses.
        """
        now = int(self._clock())
        expires_at = None if lifetime_seconds is None else now + lifetime_seconds
        record = self._access.add(identity, scopes, expires_at=expires_at, now=now)
        return record, self._signer.issue(record.to_claims())

    def revoke_token(self, token_id: str) -> TokenRecord:
        """Revoke ``token_id`` now (``KeyError`` if unknown); revoking twice keeps the first."""
        return self._access.revoke(token_id, now=int(self._clock()))

    def authenticate(self, authorization_header: str | None) -> Principal:
        """The caller behind ``authorization_header``.

        Raises :class:`~stats_service.auth.tokens.AuthenticationFailed` (an
        ``Unauthorized``) with reason ``missing``, ``malformed``, ``bad_signature``,
        ``expired`` (by the token or by the access file), ``unknown`` (token id not in the
        access file, or listed for another identity) or ``revoked``.
        """
        return self.authenticate_token(parse_authorization(authorization_header))

    def authenticate_token(self, token: str) -> Principal:
        """The caller holding ``token`` (found in a header, Basic auth or a query parameter).

        Raises :class:`~stats_service.auth.tokens.AuthenticationFailed` as
        :meth:`authenticate` does. A token without a ``.`` is a legacy token when
        legacy tokens are accepted.
        """
        now = self._clock()
        if self._legacy is not None and "." not in token:
            claims = self._legacy(token)
        else:
            claims = self._signer.verify(token, now=now)
        record = self._access.lookup(claims.token_id)
        if record is None or record.identity != claims.identity:
            raise AuthenticationFailed("unknown")
        if record.revoked_at is not None:
            raise AuthenticationFailed("revoked")
        if record.expires_at is not None and now >= record.expires_at:
            raise AuthenticationFailed("expired")
        return Principal(
            identity=claims.identity,
            token_id=claims.token_id,
            scopes=expand_scopes(claims.scopes) & expand_scopes(record.scopes),
        )

    @staticmethod
    def require(principal: Principal, scope: str) -> None:
        """Raise :class:`~stats_service.errors.Forbidden` unless ``principal`` has ``scope``."""
        if scope not in KNOWN_SCOPES:
            raise ValueError(f"unknown scope {scope!r}; known: {sorted(KNOWN_SCOPES)}")
        if scope not in principal.scopes:
            raise Forbidden(f"this operation needs the {scope!r} scope")


def _check_identity(identity: str) -> str:
    if not isinstance(identity, str):
        raise TypeError("identity must be a string")
    if (
        not identity
        or identity != identity.strip()
        or not identity.isprintable()
        or len(identity) > _MAX_IDENTITY_LENGTH
    ):
        raise ValueError(
            f"identity must be 1-{_MAX_IDENTITY_LENGTH} printable characters "
            "without surrounding whitespace"
        )
    return identity


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse(data: bytes) -> dict[str, TokenRecord]:
    """The records of a serialised access file; :class:`InvalidAccessFile` if it is not one."""
    try:
        document = json.loads(data)
    except UnicodeDecodeError:
        raise InvalidAccessFile("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidAccessFile(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(document, dict):
        raise InvalidAccessFile("the top level must be an object")
    version = document.get("version")
    if not _is_int(version) or version != ACCESS_FILE_VERSION:
        raise InvalidAccessFile(f"'version' must be {ACCESS_FILE_VERSION}")
    entries = document.get("tokens")
    if not isinstance(entries, list):
        raise InvalidAccessFile("'tokens' must be a list")
    records: dict[str, TokenRecord] = {}
    for index, entry in enumerate(entries):
        record = _parse_record(entry, f"tokens[{index}]")
        if record.token_id in records:
            raise InvalidAccessFile(f"tokens[{index}]: token_id is listed twice")
        records[record.token_id] = record
    return records


def _parse_record(entry: Any, where: str) -> TokenRecord:
    if not isinstance(entry, dict):
        raise InvalidAccessFile(f"{where} must be an object")
    token_id = entry.get("token_id")
    identity = entry.get("identity")
    scopes = entry.get("scopes")
    created_at = entry.get("created_at")
    expires_at = entry.get("expires_at")
    revoked_at = entry.get("revoked_at")
    if not isinstance(token_id, str) or not token_id:
        raise InvalidAccessFile(f"{where}.token_id must be a non-empty string")
    if not isinstance(identity, str) or not identity:
        raise InvalidAccessFile(f"{where}.identity must be a non-empty string")
    if not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes):
        raise InvalidAccessFile(f"{where}.scopes must be a list of strings")
    if not isinstance(created_at, int) or isinstance(created_at, bool):
        raise InvalidAccessFile(f"{where}.created_at must be an integer")
    for name, value in (("expires_at", expires_at), ("revoked_at", revoked_at)):
        if value is not None and not _is_int(value):
            raise InvalidAccessFile(f"{where}.{name} must be an integer or null")
    return TokenRecord(
        token_id=token_id,
        identity=identity,
        scopes=frozenset(scopes),
        created_at=created_at,
        expires_at=expires_at,
        revoked_at=revoked_at,
    )


def _dump(records: Mapping[str, TokenRecord]) -> bytes:
    document = {
        "version": ACCESS_FILE_VERSION,
        "tokens": [
            {
                "token_id": record.token_id,
                "identity": record.identity,
                "scopes": sorted(record.scopes),
                "created_at": record.created_at,
                "expires_at": record.expires_at,
                "revoked_at": record.revoked_at,
            }
            for record in records.values()
        ],
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")
