"""Where a request may carry its token: the ``Authorization`` header or InfluxDB 1.x's ways.

InfluxDB clients send credentials in three shapes, and the InfluxDB-compatible
write endpoints take our token in each of them:

* ``Authorization: Token <token>`` (or ``Bearer <token>``), what the 2.x clients send;
* ``Authorization: Basic base64(user:<token>)``: the password is the token, the
  user name is ignored (1.x clients configured with a user and password);
* the 1.x query parameters ``u`` (ignored) and ``p`` (the token).

The header wins when both are given. The token found is verified exactly as
any other (:meth:`~stats_service.auth.access.Authenticator.authenticate_token`).
Query strings are never logged (see ``observability.logging``), so a token in
``p`` does not reach a log either.
"""

from __future__ import annotations

import base64
import binascii

from stats_service.auth.tokens import AuthenticationFailed, parse_authorization

__all__ = ["token_from_credentials"]


def token_from_credentials(authorization: str | None, password: str | None) -> str:
    """The token in an ``Authorization`` header (Token, Bearer or Basic) or in ``p``.

    Raises :class:`~stats_service.auth.tokens.AuthenticationFailed` with reason
    ``missing`` when neither carries one and ``malformed`` for a broken header.
    """
    if authorization is not None and authorization.strip():
        parts = authorization.split()
        if len(parts) == 2 and parts[0].lower() == "basic":
            return _basic_password(parts[1])
        return parse_authorization(authorization)
    if password:
        return password
    raise AuthenticationFailed("missing")


def _basic_password(encoded: str) -> str:
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationFailed("malformed") from None
    _, colon, password = decoded.partition(":")
    if not colon:
        raise AuthenticationFailed("malformed")
    if not password:
        raise AuthenticationFailed("missing")
    return password
