"""``/tokens``: list, create and revoke access tokens over HTTP (the ``admin`` scope).

The same access file as ``stats-service token``: a listing shows token ids, identities,
scopes and times, never a token. A token exists in exactly one response, the ``201`` of
the ``POST`` that created it; it is never stored, logged or shown again.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from stats_service.api.body import decode_json, read_body, require_json
from stats_service.api.dependencies import Admin
from stats_service.api.schemas import error_responses
from stats_service.auth import InvalidAccessFile, TokenRecord, parse_duration
from stats_service.errors import InvalidInput, NotFound, ServiceUnavailable

__all__ = ["router"]

router = APIRouter(prefix="/tokens", tags=["tokens"])

_MAX_BODY_BYTES = 16_384
_CREATE_KEYS = frozenset({"identity", "scopes", "expires_in"})


class TokenInfo(BaseModel):
    """One token id of the access file: what its token may do, not the token."""

    token_id: str = Field(examples=["tok_1f0c9a3b5d7e2468"])
    identity: str
    scopes: list[str] = Field(examples=[["read"]])
    created_at: int = Field(description="Unix seconds.")
    expires_at: int | None = Field(description="Unix seconds; null: never expires.")
    revoked_at: int | None = Field(description="Unix seconds; null: not revoked.")


class TokenList(BaseModel):
    tokens: list[TokenInfo]


class CreatedToken(TokenInfo):
    token: str = Field(description="The token itself, shown in this response only.")


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identity: str = Field(description="Who the token is for (1-200 printable characters).")
    scopes: list[str] = Field(description="Any of read, write, admin.", examples=[["read"]])
    expires_in: str | None = Field(
        default=None, description="Lifetime such as 90d, 12h, 30m; null: never expires."
    )


def _info(record: TokenRecord) -> dict[str, Any]:
    return {
        "token_id": record.token_id,
        "identity": record.identity,
        "scopes": sorted(record.scopes),
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "revoked_at": record.revoked_at,
    }


def _json(content: Any, status_code: int = 200) -> Response:
    # ``no-store``: a created token must not linger in a cache.
    return Response(
        content=orjson.dumps(content),
        status_code=status_code,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@router.get(
    "",
    response_model=TokenList,
    summary="List token ids (never tokens)",
    responses=error_responses(401, 403),
)
async def list_tokens(caller: Admin) -> Response:
    """Every token id in the access file, revoked and expired ones included, in file order."""
    records = caller.components.authenticator.access.records()
    return _json({"tokens": [_info(record) for record in records]})


def _create_request(document: Any) -> tuple[str, list[str], int | None]:
    if not isinstance(document, dict):
        raise InvalidInput("the body must be a JSON object", details={"key": None})
    unknown = sorted(set(document) - _CREATE_KEYS)
    if unknown:
        raise InvalidInput(f"unknown key {unknown[0]!r}", details={"key": unknown[0]})
    identity = document.get("identity")
    if not isinstance(identity, str):
        raise InvalidInput("identity must be a string", details={"key": "identity"})
    scopes = document.get("scopes")
    if not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes):
        raise InvalidInput("scopes must be a list of scope names", details={"key": "scopes"})
    expires_in = document.get("expires_in")
    lifetime: int | None = None
    if expires_in is not None:
        if not isinstance(expires_in, str):
            raise InvalidInput(
                "expires_in must be a duration such as 90d", details={"key": "expires_in"}
            )
        try:
            lifetime = parse_duration(expires_in)
        except ValueError as exc:
            raise InvalidInput(str(exc), details={"key": "expires_in"}) from None
    return identity, scopes, lifetime


@router.post(
    "",
    status_code=201,
    response_model=CreatedToken,
    summary="Create a token (shown once)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": TokenRequest.model_json_schema()}},
        }
    },
    responses=error_responses(400, 401, 403, 413, 415, 422, 503),
)
async def create_token(request: Request, caller: Admin) -> Response:
    """Record a new token id and answer its token: the only time the token is shown."""
    require_json(request.headers.get("content-type"))
    identity, scopes, lifetime = _create_request(
        decode_json(await read_body(request, max_bytes=_MAX_BODY_BYTES))
    )
    authenticator = caller.components.authenticator
    try:
        record, token = authenticator.create_token(identity, scopes, lifetime_seconds=lifetime)
    except InvalidAccessFile:
        raise ServiceUnavailable("the access file is invalid; fix it first") from None
    except ValueError as exc:  # the identity or scopes the access file refuses
        key = "identity" if "identity" in str(exc) else "scopes"
        raise InvalidInput(str(exc), details={"key": key}) from None
    return _json({**_info(record), "token": token}, status_code=201)


@router.delete(
    "/{token_id}",
    response_model=TokenInfo,
    summary="Revoke a token",
    responses=error_responses(401, 403, 404, 503),
)
async def revoke_token(
    caller: Admin,
    token_id: Annotated[str, Path(max_length=200, description="The id from the listing.")],
) -> Response:
    """Revoke it now: every request with its token is refused from then on.

    Revoking a revoked token answers it unchanged (the first revocation time stays).
    """
    try:
        record = caller.components.authenticator.revoke_token(token_id)
    except KeyError:
        raise NotFound(f"no token with id {token_id!r}", details={"token_id": token_id}) from None
    except InvalidAccessFile:
        raise ServiceUnavailable("the access file is invalid; fix it first") from None
    return _json(_info(record))
