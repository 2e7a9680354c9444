"""uvicorn HTTP/1.1 protocols that refuse malformed requests in the house JSON shape.

uvicorn answers a request it cannot parse (a request line or header over its
limits, a bad or negative ``Content-Length``, a header value holding a bare
newline, bytes that are not HTTP) itself, before the application sees it, with
a plain-text ``400 Invalid HTTP request received.``; no setting changes that
body. What uvicorn does let one choose is the protocol class (its ``http``
option takes a class, or on the command line an import string such as
``stats_service.api.protocols:JsonErrorsProtocol``). These subclasses of its
two protocols differ in that one answer only: the same ``400`` and
``Connection: close``, with ``{"error": {"code": "bad_request", ...}}``.

:data:`JsonErrorsProtocol` is the httptools one when httptools is installed
and the h11 one otherwise, as uvicorn's own ``auto`` chooses.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from stats_service.api.errors import error_body

__all__ = ["JsonErrorsH11Protocol", "JsonErrorsHttpToolsProtocol", "JsonErrorsProtocol"]

MESSAGE = (
    "the request is not valid HTTP/1.1: its request line, a header or its framing "
    "(such as Content-Length) is malformed or over the server's limits"
)
_BODY = error_body("bad_request", MESSAGE)
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_BODY)).encode("ascii")),
    (b"connection", b"close"),
]


class JsonErrorsH11Protocol(H11Protocol):
    """uvicorn's h11 protocol; a request h11 cannot parse gets the JSON 400."""

    def send_400_response(self, msg: str) -> None:
        """The house error body instead of uvicorn's ``msg`` (which it also logs)."""
        del msg
        for event in (
            h11.Response(status_code=400, headers=_HEADERS, reason=b"Bad Request"),
            h11.Data(data=_BODY),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()


JsonErrorsHttpToolsProtocol: type[asyncio.Protocol] | None
JsonErrorsProtocol: type[asyncio.Protocol]

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard]
    JsonErrorsHttpToolsProtocol = None
    JsonErrorsProtocol = JsonErrorsH11Protocol
else:

    class _JsonErrorsHttpTools(HttpToolsProtocol):
        """uvicorn's httptools protocol; a request httptools cannot parse gets the JSON 400."""

        def send_400_response(self, msg: str) -> None:
            """The house error body instead of uvicorn's ``msg`` (which it also logs)."""
            del msg
            lines = [b"HTTP/1.1 400 Bad Request\r\n"]
            lines += [
                name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
            ]
            lines += [name + b": " + value + b"\r\n" for name, value in _HEADERS]
            self.transport.write(b"".join([*lines, b"\r\n", _BODY]))
            self.transport.close()

    JsonErrorsHttpToolsProtocol = _JsonErrorsHttpTools
    JsonErrorsProtocol = _JsonErrorsHttpTools
