"""Structured logs: text or JSON lines, a request id on every line, one access line per request.

* :func:`configure_logging` installs one handler on the root logger (text or
  JSON, one object per line) and routes uvicorn's own loggers through it;
  uvicorn's access log is switched off because :class:`RequestContextMiddleware`
  writes a better one.
* :class:`RequestContextMiddleware` (pure ASGI) takes a sane incoming
  ``X-Request-ID`` or makes one, returns it in the ``X-Request-ID`` response
  header, makes it visible to every log line of the request, and logs
  ``method route status duration`` when the response is done.
* :class:`RouteTemplates` names the route template of a request
  (``/log/event/{event_id}``) for access lines and HTTP metrics, from outside
  the app's own routing.
* Nothing here ever logs headers, bodies or query strings, and every line
  passes through :class:`Redactor`, which blanks anything shaped like one of
  our tokens (and any configured secret) as a last line of defence.
"""

from __future__ import annotations

import contextvars
import logging
import random
import re
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Final, Literal, TextIO

import orjson
from prometheus_fastapi_instrumentator.routing import get_route_name
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ACCESS_LOGGER",
    "QUIET_PATHS",
    "REQUEST_ID_HEADER",
    "JsonFormatter",
    "LogFormat",
    "Redactor",
    "RequestContextMiddleware",
    "RequestIdFilter",
    "RequestLog",
    "RouteTemplates",
    "TextFormatter",
    "configure_logging",
    "current_request_id",
    "new_request_id",
    "sane_request_id",
]

LogFormat = Literal["text", "json"]

REQUEST_ID_HEADER: Final = "X-Request-ID"
ACCESS_LOGGER: Final = "stats_service.access"
QUIET_PATHS: Final = frozenset({"/metrics", "/health/live", "/health/ready"})
"""Successful requests to these (scrapes and probes) get no access line."""

_HEADER_KEY = REQUEST_ID_HEADER.lower().encode("ascii")
_SANE_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_REDACTED = "<redacted>"
# "Token xyz" / "Bearer xyz" as in an Authorization header.
_SCHEME_TOKEN = re.compile(r"(?i)\b(token|bearer)(\s+)[^\s\"',;]{8,}")
# Our signed tokens: base64url JSON ("eyJ") or a "." and zlib data ("eJ"), a dot, a signature.
_SIGNED_TOKEN = re.compile(r"\.?e(?:yJ|J)[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}")
_MAX_LOGGED_PATH = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "stats_request_id", default=None
)
# LogRecord attributes that are not "extra" fields of a structured line.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "color_message",
    "taskName",
}
_OURS = "_stats_service_handler"


def current_request_id() -> str | None:
    """The id of the request being served in this context, if any."""
    return _request_id.get()


def new_request_id() -> str:
    """A fresh request id: 32 hex digits.

    Drawn from the ``random`` module's generator (seeded from the OS at start
    and reseeded in forked children), not from ``os.urandom``: request ids
    need to be distinct, not secret, and a system call on every request (one
    that lets other threads take the GIL) costs far more than the draw.
    """
    return f"{random.getrandbits(128):032x}"


def sane_request_id(value: bytes) -> str | None:
    """``value`` as a request id if it is safe to echo and log, else None.

    Sane: 1-128 characters of letters, digits, ``.``, ``_``, ``:`` and ``-``,
    starting with a letter or digit (UUIDs, ULIDs, hex ids and trace ids pass).
    """
    if _SANE_ID.fullmatch(value):
        return value.decode("ascii")
    return None


class Redactor:
    """Blanks token-shaped strings and the given secrets in a log line."""

    def __init__(self, secrets_to_hide: Iterable[str] = ()) -> None:
        self._secrets = tuple(sorted({s for s in secrets_to_hide if s}, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        """``text`` with every secret and token replaced by a marker."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, _REDACTED)
        # Cheap substring checks first: almost no line holds anything to redact.
        if "." in text and ("eyJ" in text or "eJ" in text):
            text = _SIGNED_TOKEN.sub(_REDACTED, text)
        lowered = text.lower()
        if "token" in lowered or "bearer" in lowered:
            text = _SCHEME_TOKEN.sub(rf"\1\2{_REDACTED}", text)
        return text


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id`` from the current request (``-`` outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Never drops a record; only annotates it."""
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get() or "-"
        return True


class _IsoTime:
    """``2024-05-01T12:00:00.123Z`` for a UNIX time; the date and seconds part is cached."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._prefix = datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        millis = int((created - second) * 1000)
        return f"{self._prefix}.{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and extras.

    Extras are the ``extra={...}`` fields of the logging call (the access line
    carries ``method``, ``route``, ``path``, ``status``, ``duration_ms``).
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._redact = redactor or Redactor()
        self._iso_time = _IsoTime()

    def format(self, record: logging.LogRecord) -> str:
        """The line for ``record``."""
        payload: dict[str, Any] = {
            "time": self._iso_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self._redact(record.getMessage()),
            "pid": record.process,
        }
        request_id = getattr(record, "request_id", None) or _request_id.get()
        if request_id and request_id != "-":
            payload["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                payload[key] = self._redact(value) if isinstance(value, str) else value
        if record.exc_info:
            payload["exception"] = self._redact(self.formatException(record.exc_info))
        if record.stack_info:
            payload["stack"] = self._redact(self.formatStack(record.stack_info))
        return orjson.dumps(payload, default=str).decode("utf-8")


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [request id] message`` for people reading a terminal."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        self._redact = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        """The line for ``record`` (traceback included), redacted."""
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get() or "-"
        return self._redact(super().format(record))


def configure_logging(
    *,
    log_format: LogFormat = "text",
    level: str = "info",
    stream: TextIO | None = None,
    secrets_to_hide: Iterable[str] = (),
) -> logging.Handler:
    """Send every log line (uvicorn's included) through one handler on the root logger.

    Calling it again replaces the handler it installed before; handlers others
    installed on the root logger are left alone. ``secrets_to_hide`` (e.g. the
    signing keys) are blanked wherever they would appear. Returns the handler.
    """
    if log_format not in ("text", "json"):
        raise ValueError(f"log_format must be 'text' or 'json', not {log_format!r}")
    redactor = Redactor(secrets_to_hide)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(
        JsonFormatter(redactor) if log_format == "json" else TextFormatter(redactor)
    )
    handler.addFilter(RequestIdFilter())
    setattr(handler, _OURS, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # Our middleware writes the access line; without handlers uvicorn skips its own.
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    return handler


class RouteTemplates:
    """The route template a request path belongs to, the way the app routes it.

    Works on the raw ASGI scope, before (or without) the app's router, so it
    serves middleware that wraps everything. A trailing slash is ignored, as
    the service answers every path with and without one. Templates of routes
    without parameters (``/log/event``) are cached, so the hot requests cost a
    dict lookup; other paths are matched each time and never cached (event
    ids and scanners' paths would fill the cache).
    """

    def __init__(self) -> None:
        self._static: dict[tuple[str, str], str] = {}

    def __call__(self, scope: Scope) -> str | None:
        """The template, or None when no route matches (a 404)."""
        key = (scope["method"], scope["path"])
        found = self._static.get(key)
        if found is not None:
            return found
        path: str = scope["path"]
        bare = path.rstrip("/") or "/"
        lookup = scope if bare == path else {**scope, "path": bare}
        name = get_route_name(HTTPConnection(lookup), should_include_root_path=False)
        if name is not None and name == bare:
            self._static[key] = name
        return name


def _shown_path(path: str) -> str:
    if len(path) > _MAX_LOGGED_PATH:
        path = path[:_MAX_LOGGED_PATH] + "..."
    return _CONTROL.sub("?", path)


class RequestLog:
    """Request ids and access lines, for every request the service answers.

    :class:`RequestContextMiddleware` uses one for the requests it wraps; a
    route answered straight from ASGI, outside that middleware (the ingest
    lane), uses the same one, so both kinds of request get the same id
    handling and the same access line.

    The access line is logged on ``stats_service.access`` at INFO with the
    route template (``/log/event/{event_id}``, from ``route_templates``), the
    path (no query string), the status and the duration; successful requests
    to :data:`QUIET_PATHS` are not logged.
    """

    def __init__(
        self,
        *,
        access_log: bool = True,
        clock: Callable[[], float] = time.perf_counter,
        new_id: Callable[[], str] = new_request_id,
        quiet_paths: frozenset[str] = QUIET_PATHS,
        route_templates: Callable[[Scope], str | None] | None = None,
    ) -> None:
        self.clock = clock
        """The clock durations are measured with (seconds)."""
        self._access_log = access_log
        self._new_id = new_id
        self._quiet_paths = quiet_paths
        self._route_templates = route_templates or RouteTemplates()
        self._logger = logging.getLogger(ACCESS_LOGGER)

    def request_id(self, scope: Scope) -> str:
        """The sender's ``X-Request-ID`` when it is sane, else a fresh id."""
        for key, value in scope["headers"]:
            if key == _HEADER_KEY:
                sent = sane_request_id(value)
                if sent is not None:
                    return sent
                break
        return self._new_id()

    @staticmethod
    def enter(request_id: str) -> contextvars.Token[str | None]:
        """Make ``request_id`` the current one (log lines carry it) until :meth:`leave`."""
        return _request_id.set(request_id)

    @staticmethod
    def leave(token: contextvars.Token[str | None]) -> None:
        """Restore the request id that was current before :meth:`enter`."""
        _request_id.reset(token)

    @staticmethod
    def header(request_id: str) -> tuple[bytes, bytes]:
        """The response header that echoes ``request_id``."""
        return (_HEADER_KEY, request_id.encode("ascii"))

    @property
    def logs_access(self) -> bool:
        """Whether access lines are written at all (setting and logger level)."""
        return self._access_log and self._logger.isEnabledFor(logging.INFO)

    def log(self, scope: Scope, status: int, start: float, route: str | None = None) -> None:
        """Write the access line of a request answered with ``status``, begun at ``start``.

        ``route`` names the route template when the caller knows it; else it
        is looked up (which needs the application in the scope).
        """
        if not self.logs_access:
            return
        path: str = scope["path"]
        if status < 400 and (path.rstrip("/") or "/") in self._quiet_paths:
            return
        duration_ms = round((self.clock() - start) * 1000.0, 3)
        route = route or self._route_templates(scope) or "-"
        method: str = scope["method"]
        # makeRecord + handle is logger.info without the caller lookup, which
        # would only ever name this line.
        record = self._logger.makeRecord(
            ACCESS_LOGGER,
            logging.INFO,
            __file__,
            0,
            "%s %s %d %.1fms",
            (method, route, status, duration_ms),
            None,
            extra={
                "method": method,
                "route": route,
                "path": _shown_path(path),
                "status": status,
                "duration_ms": duration_ms,
            },
        )
        self._logger.handle(record)


class RequestContextMiddleware:
    """Request id in, request id out, one access line per request.

    A pure ASGI middleware (no per-request objects beyond a closure), meant to
    wrap everything else; ids and access lines come from ``request_log`` (by
    default a :class:`RequestLog` with its defaults). When the app
    raises, the access line says 500 and the exception goes on to the
    server-error handler with the request id still set.
    """

    def __init__(self, app: ASGIApp, *, request_log: RequestLog | None = None) -> None:
        self.app = app
        self._requests = request_log or RequestLog()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        requests = self._requests
        request_id = requests.request_id(scope)
        token = requests.enter(request_id)
        header = requests.header(request_id)
        if not requests.logs_access:
            # No access line to write: no clock, no status, only the id header.

            async def send_id_only(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", ()), header]}
                await send(message)

            await self.app(scope, receive, send_id_only)
            requests.leave(token)
            return
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        start = requests.clock()
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            requests.log(scope, 500, start)
            raise
        requests.log(scope, status, start)
        requests.leave(token)
