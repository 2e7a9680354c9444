"""Authentication: signed tokens, the access file, signing keys.

- :mod:`.tokens`: issue and verify signed tokens (first key signs, all keys verify), read
  them from ``Authorization: Token <token>`` / ``Bearer <token>``, and the failure type
  :class:`AuthenticationFailed` with its machine-readable ``reason``.
- :mod:`.access`: the JSON access file (token ids, identities, scopes, revocations; no
  secrets), reloaded on change, and :class:`Authenticator`, which runs every check for a
  request and yields a :class:`Principal`.
- :mod:`.keys`: generate, vet, read and write signing keys.
- :mod:`.credentials`: the token of an InfluxDB client (``Token``, Basic auth or ``p``).
- :mod:`.legacy`: the original service's tokens, verified the original way once
  imported (the ``token import-legacy`` command is :mod:`stats_service.legacy_import`).

Scopes are ``read``, ``write`` and ``admin`` (which implies both).
"""

from stats_service.auth.access import (
    ACCESS_FILE_VERSION,
    AccessFile,
    Authenticator,
    InvalidAccessFile,
    Principal,
    TokenRecord,
)
from stats_service.auth.keys import (
    DEV_KEY_PREFIX,
    MIN_SECRET_KEY_LENGTH,
    generate_secret_key,
    is_unsafe_secret_key,
    read_key_file,
    write_key_file,
)
from stats_service.auth.tokens import (
    KNOWN_SCOPES,
    SCOPE_ADMIN,
    SCOPE_READ,
    SCOPE_WRITE,
    TOKEN_SALT,
    AuthenticationFailed,
    AuthFailureReason,
    TokenClaims,
    TokenSigner,
    expand_scopes,
    new_token_id,
    parse_authorization,
    parse_duration,
)

__all__ = [
    "ACCESS_FILE_VERSION",
    "DEV_KEY_PREFIX",
    "KNOWN_SCOPES",
    "MIN_SECRET_KEY_LENGTH",
    "SCOPE_ADMIN",
    "SCOPE_READ",
    "SCOPE_WRITE",
    "TOKEN_SALT",
    "AccessFile",
    "AuthFailureReason",
    "AuthenticationFailed",
    "Authenticator",
    "InvalidAccessFile",
    "Principal",
    "TokenClaims",
    "TokenRecord",
    "TokenSigner",
    "expand_scopes",
    "generate_secret_key",
    "is_unsafe_secret_key",
    "new_token_id",
    "parse_authorization",
    "parse_duration",
    "read_key_file",
    "write_key_file",
]
