"""The fast lane: ``POST /log/event`` served straight from ASGI.

The single-event POST is the hottest request the service takes, and most of
its cost in a routed FastAPI app is framework plumbing (the middleware stack,
routing, exception wrappers, dependency solving, the ``Request`` object), not
the work itself. This layer sits outside the whole middleware stack and
serves exactly that request with the same parts the routed endpoint uses (the
authenticator, ``body.read_limited``, ``decode_json``,
``Ingestor.log_payload`` and ``errors.error_parts``), so both answer alike.
It does itself what the observability middleware would have done: the
request id (in the log context and the ``X-Request-ID`` header), the HTTP
metrics and the access line, through the same :class:`RequestLog` and
metrics recorder. Every other request passes through untouched. The FastAPI
route stays: it documents the operation in OpenAPI and serves it when the
lane is off.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stats_service.api.body import decode_json, read_limited, require_json
from stats_service.api.dependencies import Components
from stats_service.api.errors import error_body, error_parts
from stats_service.auth import Authenticator
from stats_service.errors import StatsServiceError
from stats_service.observability import RequestLog

__all__ = ["IngestFastLane"]

logger = logging.getLogger("stats_service.api")

ROUTE = "/log/event"
_PATHS = frozenset({ROUTE, ROUTE + "/"})
_JSON = (b"content-type", b"application/json")


class _ClientGone(Exception):
    """The client hung up before its body arrived; there is nobody to answer."""


class IngestFastLane:
    """Serves ``POST /log/event`` itself; passes everything else to ``app``.

    ``requests`` gives request ids and access lines (the one the observability
    middleware uses). Place it outside the app's middleware stack: it reads
    the components from ``scope["app"]``, which the application sets.
    """

    def __init__(self, app: ASGIApp, *, requests: RequestLog) -> None:
        self.app = app
        self._requests = requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in _PATHS:
            await self.app(scope, receive, send)
            return
        requests = self._requests
        start = requests.clock()
        request_id = requests.request_id(scope)
        token = requests.enter(request_id)
        try:
            await self._serve(scope, receive, send, request_id, start)
        finally:
            requests.leave(token)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, start: float
    ) -> None:
        extra: dict[str, str] = {}
        components: Components | None = None
        try:
            components = scope["app"].state.components
            status, body = 200, await _log_event(components, scope, receive)
        except _ClientGone:
            logger.info("client disconnected during POST %s", scope["path"])
            return
        except StatsServiceError as exc:
            if components is not None:
                components.metrics.observe_error("POST", ROUTE, exc)
            status, body, extra = error_parts(exc)
        except Exception:
            logger.exception("unhandled error on POST %s", scope["path"])
            status, body, extra = 500, error_body("internal", "internal error"), {}
        headers = [
            _JSON,
            (b"content-length", str(len(body)).encode()),
            self._requests.header(request_id),
        ]
        headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        if components is not None:
            components.metrics.observe_http(ROUTE, "POST", status, self._requests.clock() - start)
        self._requests.log(scope, status, start)


async def _log_event(components: Components, scope: Scope, receive: Receive) -> bytes:
    headers = _headers(scope)
    principal = components.authenticator.authenticate(headers.get("authorization"))
    Authenticator.require(principal, "write")
    require_json(headers.get("content-type"))
    raw = await read_limited(
        _chunks(receive),
        content_length=headers.get("content-length"),
        content_encoding=headers.get("content-encoding"),
        max_bytes=components.settings.max_body_bytes,
    )
    result = await components.ingestor.log_payload(decode_json(raw), principal.identity)
    components.metrics.events_accepted(len(result) if isinstance(result, list) else 1, ROUTE)
    return orjson.dumps(result)


_WANTED = frozenset({b"authorization", b"content-type", b"content-length", b"content-encoding"})


def _headers(scope: Scope) -> dict[str, str]:
    # ASGI servers give lower-case names; the first of a repeated header wins.
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name in _WANTED:
            found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk: bytes = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
