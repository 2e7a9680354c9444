"""The fast lane: ``POST /log/event`` served straight from ASGI.

The single-event POST is the hottest request the service takes, and most of
its cost in a routed FastAPI app is framework plumbing (the middleware stack,
routing, exception wrappers, dependency solving, the ``Request`` object), not
the work itself. This layer sits in front of the whole application and
serves exactly that request with the same parts the routed endpoint uses (the
authenticator, the body limits of ``api.body``, ``decode_json``, the
``Ingestor`` and ``errors.error_parts``), so both answer alike.
It does itself what the observability middleware would have done: the
request id (in the log context and the ``X-Request-ID`` header), the HTTP
metrics and the access line, through the same :class:`RequestLog` and
metrics recorder. Every other request passes through untouched. The FastAPI
route stays: it documents the operation in OpenAPI and serves it when the
lane is off.
"""

from __future__ import annotations

import logging

import orjson
from starlette.datastructures import State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stats_service.api.body import check_framing, decode_json, finish_body, require_json
from stats_service.api.dependencies import Components
from stats_service.api.errors import error_body, error_parts
from stats_service.auth import Authenticator
from stats_service.errors import PayloadTooLarge, StatsServiceError
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
    middleware uses); ``state`` is the application's state, which holds the
    components once the lifespan has started. Place it in front of the
    application: the requests it answers skip all of it.
    """

    def __init__(self, app: ASGIApp, *, requests: RequestLog, state: State) -> None:
        self.app = app
        self._requests = requests
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in _PATHS:
            await self.app(scope, receive, send)
            return
        # One coroutine from request to answer: every extra await level and
        # async generator costs this hottest request measurable time.
        requests = self._requests
        start = requests.clock()
        request_id = requests.request_id(scope)
        token = requests.enter(request_id)
        extra: dict[str, str] = {}
        components: Components | None = None
        try:
            components = self._state.components
            identity, encoding, max_bytes = _admit(components, scope)
            body = await _receive_body(receive, max_bytes)
            payload = decode_json(finish_body(body, encoding, max_bytes))
            result: str | list[str]
            if isinstance(payload, list):
                result = await components.ingestor.log_points(payload, identity)
                components.metrics.events_accepted(len(result), ROUTE)
            else:
                result = await components.ingestor.log_event(payload, identity)
                components.metrics.events_accepted(1, ROUTE)
            status, answer = 200, orjson.dumps(result)
        except _ClientGone:
            logger.info("client disconnected during POST %s", scope["path"])
            requests.leave(token)
            return
        except StatsServiceError as exc:
            if components is not None:
                components.metrics.observe_error("POST", ROUTE, exc)
            status, answer, extra = error_parts(exc)
        except Exception:
            logger.exception("unhandled error on POST %s", scope["path"])
            status, answer = 500, error_body("internal", "internal error")
        try:
            response = [
                _JSON,
                (b"content-length", str(len(answer)).encode()),
                requests.header(request_id),
            ]
            if extra:
                response += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
            await send({"type": "http.response.start", "status": status, "headers": response})
            await send({"type": "http.response.body", "body": answer})
            if components is not None:
                components.metrics.observe_http(ROUTE, "POST", status, requests.clock() - start)
            requests.log(scope, status, start, ROUTE)
        finally:
            requests.leave(token)


_WANTED = frozenset({b"authorization", b"content-type", b"content-length", b"content-encoding"})


def _headers(scope: Scope) -> dict[str, str]:
    # ASGI servers give lower-case names; the first of a repeated header wins.
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name in _WANTED:
            found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


def _admit(components: Components, scope: Scope) -> tuple[str, str, int]:
    """Check token, scope, media type and framing: the identity, body encoding and limit."""
    headers = _headers(scope)
    principal = components.authenticator.authenticate(headers.get("authorization"))
    Authenticator.require(principal, "write")
    require_json(headers.get("content-type"))
    max_bytes = components.settings.max_body_bytes
    encoding = check_framing(
        content_length=headers.get("content-length"),
        content_encoding=headers.get("content-encoding"),
        max_bytes=max_bytes,
    )
    return principal.identity, encoding, max_bytes


async def _receive_body(receive: Receive, max_bytes: int) -> bytes:
    """The request body, refused as soon as it is over ``max_bytes``."""
    message: Message = await receive()
    if message["type"] == "http.disconnect":
        raise _ClientGone
    first: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return first  # the usual case: the whole body in one message
    parts = [first]
    total = len(first)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk: bytes = message.get("body", b"")
        total += len(chunk)
        if total > max_bytes:
            raise PayloadTooLarge(f"body is over the limit of {max_bytes} bytes")
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)
