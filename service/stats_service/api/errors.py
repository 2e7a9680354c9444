"""Maps every error to one JSON shape: ``{"error": {"code", "message", "details"}}``.

This is the only place error responses are built. Client input never yields a
500; an unexpected exception is logged with its traceback and answered with a
generic 500 body that carries no internals.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import Match

from stats_service.errors import LineProtocolRejected, StatsServiceError

__all__ = [
    "error_body",
    "error_parts",
    "error_response",
    "influx_error_body",
    "install_error_handlers",
]

logger = logging.getLogger("stats_service.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    503: "unavailable",
}


def error_body(code: str, message: str, details: Any = None) -> bytes:
    """The one JSON error body, serialised."""
    return orjson.dumps({"error": {"code": code, "message": message, "details": details}})


def influx_error_body(api: str, message: str) -> bytes:
    """InfluxDB's error body: 1.x ``{"error"}``, 2.x ``{"code": "invalid", "message"}``."""
    if api == "v1":
        return orjson.dumps({"error": message})
    return orjson.dumps({"code": "invalid", "message": message})


def error_parts(exc: StatsServiceError) -> tuple[int, bytes, dict[str, str]]:
    """Status, body and extra headers for a service error (raw ASGI callers use this)."""
    if exc.status_code >= 500 and exc.status_code != 503:
        logger.error("internal error: %s", exc.message)
    if isinstance(exc, LineProtocolRejected):
        return exc.status_code, influx_error_body(exc.api, exc.message), exc.headers()
    return exc.status_code, error_body(exc.code, exc.message, exc.details), exc.headers()


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The one JSON error body."""
    return Response(
        content=error_body(code, message, details),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


async def _service_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StatsServiceError)
    status, body, headers = error_parts(exc)
    return Response(
        content=body, status_code=status, media_type="application/json", headers=headers
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 404 and message == "Not Found":
        message = "no such resource"
    elif exc.status_code == 405 and message == "Method Not Allowed":
        message = "method not allowed on this resource"
    return error_response(exc.status_code, code, message, None, headers)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path.

    Each method is tried against the top-level routes; an included router
    answers for the routes inside it, however deeply they are nested.
    """
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "location": ".".join(str(part) for part in err.get("loc", ())),
            "message": str(err.get("msg", "invalid")),
        }
        for err in exc.errors()
    ]
    first = problems[0] if problems else {"location": "request", "message": "invalid"}
    return error_response(
        422, "invalid", f"{first['location']}: {first['message']}", {"problems": problems}
    )


async def _client_gone(request: Request, _: Exception) -> Response:
    # The client closed the connection before sending its whole body: nothing
    # was stored and nobody is left to answer. Not a server error.
    logger.info("client disconnected during %s %s", request.method, request.url.path)
    return error_response(400, "bad_request", "client disconnected before the body was read")


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", "internal error")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the one JSON shape."""
    app.add_exception_handler(StatsServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected_error)
