"""The fast lane: ``POST /log/event`` served straight from ASGI.

The single-event POST is the hottest request the service takes, and most of
its cost in a routed FastAPI app is framework plumbing (routing, exception
wrappers, dependency solving, the ``Request`` object), not the work itself.
This middleware serves exactly that request with the same parts the routed
endpoint uses (the authenticator, ``body.read_limited``, ``decode_json``,
``Ingestor.log_payload`` and ``errors.error_parts``), so both answer alike;
every other request passes through untouched. The FastAPI route stays: it
documents the operation in OpenAPI and serves it when the lane is off.
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

__all__ = ["IngestFastLane"]

logger = logging.getLogger("stats_service.api")

_PATHS = frozenset({"/log/event", "/log/event/"})
_JSON_HEADERS = [(b"content-type", b"application/json")]


class _ClientGone(Exception):
    """The client hung up before its body arrived; there is nobody to answer."""


class IngestFastLane:
    """Serves ``POST /log/event`` itself; passes everything else to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in _PATHS:
            await self.app(scope, receive, send)
            return
        components: Components = scope["app"].state.components
        extra: dict[str, str] = {}
        try:
            status, body = 200, await _log_event(components, scope, receive)
        except _ClientGone:
            logger.info("client disconnected during POST %s", scope["path"])
            return
        except StatsServiceError as exc:
            components.metrics.observe_error("POST", "/log/event", exc)
            status, body, extra = error_parts(exc)
        except Exception:
            logger.exception("unhandled error on POST %s", scope["path"])
            status, body, extra = 500, error_body("internal", "internal error"), {}
        headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


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
    components.metrics.events_accepted(len(result) if isinstance(result, list) else 1, "/log/event")
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
