"""Signed API tokens: issue and verify them, and read them from an ``Authorization`` header.

A token is a compact, URL-safe string signed with :mod:`itsdangerous` (HMAC-SHA256 under a
fixed salt). Its payload carries the claims of :class:`TokenClaims`::

    {"sub": identity, "jti": token id, "scp": [scopes], "iat": issued at, "exp": expires at}

(``exp`` is left out for tokens that never expire; times are whole Unix seconds.)

Key rotation: :class:`TokenSigner` takes the configured list of secret keys, **the first
signs, all verify**. To rotate, put the new key first, keep the old one after it until every
token it signed has been reissued or has expired, then remove it.

Scopes: ``read`` (fetch and query events), ``write`` (send events) and ``admin``, which
implies both (see :func:`expand_scopes`).

Every failure raises :class:`AuthenticationFailed`, a
:class:`~stats_service.errors.Unauthorized` with a machine-readable ``reason`` and a short
fixed message that never quotes the token or a key.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from itsdangerous import BadPayload, BadSignature, URLSafeSerializer

from stats_service.errors import Unauthorized

__all__ = [
    "KNOWN_SCOPES",
    "MAX_TOKEN_LENGTH",
    "SCOPE_ADMIN",
    "SCOPE_READ",
    "SCOPE_WRITE",
    "TOKEN_SALT",
    "AuthFailureReason",
    "AuthenticationFailed",
    "TokenClaims",
    "TokenSigner",
    "expand_scopes",
    "new_token_id",
    "parse_authorization",
    "parse_duration",
]

TOKEN_SALT: Final = "stats-service.token.v1"  # noqa: S105  # a public salt, not a secret
"""Salt that binds our signatures to this one purpose; a new payload layout gets a new salt."""

SCOPE_READ: Final = "read"
SCOPE_WRITE: Final = "write"
SCOPE_ADMIN: Final = "admin"
KNOWN_SCOPES: Final = frozenset({SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN})

MAX_TOKEN_LENGTH: Final = 4096
"""Longer strings are rejected as malformed before any cryptography runs."""

AuthFailureReason = Literal[
    "missing", "malformed", "bad_signature", "expired", "unknown", "revoked"
]

_MESSAGES: Final[dict[AuthFailureReason, str]] = {
    "missing": "authentication required: send 'Authorization: Token <token>'",
    "malformed": "malformed token or Authorization header",
    "bad_signature": "token signature is invalid",
    "expired": "token has expired",
    "unknown": "token is not known to this service",
    "revoked": "token has been revoked",
}

_SCHEMES: Final = frozenset({"token", "bearer"})
# itsdangerous' URL-safe alphabet: base64url, plus "." as separator and compression marker.
_TOKEN_RE: Final = re.compile(r"\.?[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")
_DURATION_RE: Final = re.compile(r"([0-9]{1,9})([smhdw])")
_DURATION_UNITS: Final[dict[str, int]] = {
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
}


class AuthenticationFailed(Unauthorized):
    """A request's credentials were rejected; ``reason`` says why, for logs and metrics.

    The message is fixed per reason so it can never carry the token or a key.
    """

    def __init__(self, reason: AuthFailureReason) -> None:
        super().__init__(_MESSAGES[reason], details={"reason": reason})
        self.reason: AuthFailureReason = reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reason={self.reason!r})"

    @property
    def auth_failure_reason(self) -> str | None:
        """The ``reason``."""
        return self.reason


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a token asserts: who holds it, its id in the access file, and what it may do."""

    identity: str
    token_id: str
    scopes: frozenset[str]
    issued_at: int
    """Unix seconds."""
    expires_at: int | None
    """Unix seconds; the token is expired from this instant on. ``None``: never expires."""


def expand_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """Return ``scopes`` with what ``admin`` implies (``read`` and ``write``) added."""
    result = frozenset(scopes)
    if SCOPE_ADMIN in result:
        result |= {SCOPE_READ, SCOPE_WRITE}
    return result


_VERIFIED_CACHE_SIZE = 4096


class TokenSigner:
    """Issues and verifies tokens with a list of secret keys: the first signs, all verify."""

    __slots__ = ("_serializer", "_verified")

    def __init__(self, secret_keys: Sequence[str]) -> None:
        if isinstance(secret_keys, str):
            raise TypeError("secret_keys must be a sequence of keys, not one string")
        keys = list(secret_keys)
        if not keys:
            raise ValueError("at least one secret key is required")
        if any(not isinstance(key, str) or not key for key in keys):
            raise ValueError("secret keys must be non-empty strings")
        # itsdangerous signs with the *last* key and tries all of them (newest first) to
        # verify; our settings list the signing key first, so hand them over reversed.
        self._serializer = URLSafeSerializer(
            list(reversed(keys)),
            salt=TOKEN_SALT,
            signer_kwargs={"digest_method": hashlib.sha256},
        )
        # Tokens whose signature already verified, so the HMAC runs once per token
        # rather than once per request. Keyed by the whole token (signature
        # included): a tampered token never matches. Expiry is still checked on
        # every call, and revocation is the access file's job.
        self._verified: dict[str, TokenClaims] = {}

    def _remember(self, token: str, claims: TokenClaims) -> None:
        if len(self._verified) >= _VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = claims

    def __repr__(self) -> str:
        return f"<{type(self).__name__} keys={len(self._serializer.secret_keys)}>"

    def issue(self, claims: TokenClaims) -> str:
        """Sign ``claims`` with the first key; ``ValueError`` if the claims are inconsistent."""
        _check_claims(claims)
        payload: dict[str, Any] = {
            "sub": claims.identity,
            "jti": claims.token_id,
            "scp": sorted(claims.scopes),
            "iat": claims.issued_at,
        }
        if claims.expires_at is not None:
            payload["exp"] = claims.expires_at
        return self._serializer.dumps(payload)

    def verify(self, token: str, *, now: float) -> TokenClaims:
        """Check the signature and expiry of ``token`` at Unix time ``now``; return its claims.

        Raises :class:`AuthenticationFailed` with reason ``malformed`` (not a token of ours in
        shape or content), ``bad_signature`` (no configured key signed it) or ``expired``.
        """
        cached = self._verified.get(token)
        if cached is not None:
            if cached.expires_at is not None and now >= cached.expires_at:
                raise AuthenticationFailed("expired")
            return cached
        if len(token) > MAX_TOKEN_LENGTH or _TOKEN_RE.fullmatch(token) is None:
            raise AuthenticationFailed("malformed")
        reason: AuthFailureReason
        try:
            payload = self._serializer.loads(token)
        except BadPayload:
            reason = "malformed"
        except BadSignature:
            reason = "bad_signature"
        else:
            claims = _claims_from_payload(payload)
            if claims is None:
                reason = "malformed"
            elif claims.expires_at is not None and now >= claims.expires_at:
                reason = "expired"
            else:
                self._remember(token, claims)
                return claims
        # Raised outside the ``except`` blocks so no itsdangerous exception (whose text can
        # quote the signature) is chained to ours.
        raise AuthenticationFailed(reason)


def _check_claims(claims: TokenClaims) -> None:
    if not claims.identity or not claims.identity.isprintable():
        raise ValueError("identity must be a non-empty printable string")
    if not claims.token_id or not claims.token_id.isprintable():
        raise ValueError("token_id must be a non-empty printable string")
    if not claims.scopes:
        raise ValueError("a token needs at least one scope")
    unknown = claims.scopes - KNOWN_SCOPES
    if unknown:
        raise ValueError(f"unknown scopes {sorted(unknown)}; known: {sorted(KNOWN_SCOPES)}")
    if claims.expires_at is not None and claims.expires_at <= claims.issued_at:
        raise ValueError("expires_at must be after issued_at")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _claims_from_payload(payload: object) -> TokenClaims | None:
    """The claims in a verified payload, or ``None`` if its layout is not ours."""
    if not isinstance(payload, dict):
        return None
    identity = payload.get("sub")
    token_id = payload.get("jti")
    scopes = payload.get("scp")
    issued_at = payload.get("iat")
    expires_at = payload.get("exp")
    if not (isinstance(identity, str) and identity and isinstance(token_id, str) and token_id):
        return None
    if not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes):
        return None
    if not _is_int(issued_at) or not (expires_at is None or _is_int(expires_at)):
        return None
    assert isinstance(issued_at, int)
    assert expires_at is None or isinstance(expires_at, int)
    return TokenClaims(
        identity=identity,
        token_id=token_id,
        scopes=frozenset(scopes),
        issued_at=issued_at,
        expires_at=expires_at,
    )


def parse_authorization(header: str | None) -> str:
    """Return the raw token from an ``Authorization`` header value.

    Accepts ``Token <token>`` and ``Bearer <token>`` (scheme case-insensitive, surrounding
    whitespace ignored). Raises :class:`AuthenticationFailed` with reason ``missing`` for an
    absent or blank header and ``malformed`` for anything else that is not one scheme and one
    token.
    """
    if header is None or not header.strip():
        raise AuthenticationFailed("missing")
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() not in _SCHEMES:
        raise AuthenticationFailed("malformed")
    return parts[1]


def new_token_id() -> str:
    """A fresh random token id such as ``tok_1f0c9a3b5d7e2468``."""
    return f"tok_{secrets.token_hex(8)}"


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``90s``, ``15m``, ``12h``, ``30d`` or ``2w``.

    One positive whole number and one unit (``s``, ``m``, ``h``, ``d``, ``w``); surrounding
    whitespace is ignored. Anything else raises ``ValueError``.
    """
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"invalid duration {text!r}: expected a whole number and a unit s, m, h, d or w"
        )
    amount = int(match.group(1))
    if amount == 0:
        raise ValueError(f"invalid duration {text!r}: must be more than zero")
    return amount * _DURATION_UNITS[match.group(2)]
